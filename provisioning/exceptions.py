"""The two kinds of failure a gateway reports; `message` is French, for the administrator."""


class ProvisioningError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TransientError(ProvisioningError):
    """Worth retrying later: timeouts, refused connections, HTTP 429 and 5xx.

    A worker step that schedules the retry sets `countdown`, the seconds until the job is
    due again, so the task's retry message arrives at that time without asking the database.
    """

    countdown: float | None = None


class PermanentError(ProvisioningError):
    """Retrying cannot help: invalid number, bad credentials, missing table."""
