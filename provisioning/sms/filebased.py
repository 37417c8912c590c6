"""Writes each message to its own file in SMS_FILE_PATH (development only)."""

import os
import uuid
from pathlib import Path

from django.conf import settings

from ..exceptions import PermanentError
from .base import BaseSmsBackend, SentSms


class SmsBackend(BaseSmsBackend):
    def __init__(self, path: str | None = None):
        self.path = Path(path or settings.SMS_FILE_PATH)

    def send(self, *, to: str, body: str) -> SentSms:
        message_id = f"FB{uuid.uuid4().hex}"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(
                self.path / f"{message_id}.sms", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600
            )
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(f"To: {to}\n\n{body}\n")
        except OSError as exc:
            raise PermanentError(
                f"Impossible d'écrire le SMS dans {self.path} : {exc.strerror}."
            ) from None
        return SentSms(message_id=message_id, status="sent")

    def redact(self, *, message_id: str) -> None:
        """Keep the file (it shows a message was sent) without its text."""
        path = self.path / f"{message_id}.sms"
        try:
            header = path.read_text(encoding="utf-8").split("\n\n", 1)[0]
            path.write_text(f"{header}\n\n[texte effacé]\n", encoding="utf-8")
        except OSError as exc:
            raise PermanentError(f"Impossible d'effacer le SMS {path} : {exc.strerror}.") from None
