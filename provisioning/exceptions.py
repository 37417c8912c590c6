"""The two kinds of failure a gateway reports; `message` is French, for the administrator."""


class ProvisioningError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TransientError(ProvisioningError):
    """Worth retrying later: timeouts, refused connections, HTTP 429 and 5xx."""


class PermanentError(ProvisioningError):
    """Retrying cannot help: invalid number, bad credentials, missing table."""
