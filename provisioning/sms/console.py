"""Writes messages to standard output; with DEBUG=False the text itself is not shown."""

import sys
import uuid

from django.conf import settings

from .base import BaseSmsBackend, SentSms


class SmsBackend(BaseSmsBackend):
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def send(self, *, to: str, body: str) -> SentSms:
        message_id = f"CO{uuid.uuid4().hex}"
        if settings.DEBUG:
            text = body
        else:
            text = f"[{len(body)} caractères, non affichés hors mode DEBUG]"
        self.stream.write(f"--- SMS {message_id} à {to}\n{text}\n---\n")
        self.stream.flush()
        return SentSms(message_id=message_id, status="sent")
