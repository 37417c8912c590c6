"""Keeps messages in `provisioning.sms.locmem.outbox`, like Django's mail.outbox (tests)."""

import itertools

from .base import BaseSmsBackend, SentSms

outbox: list[dict] = []
redacted: list[str] = []  # message ids whose text the provider would have erased
_ids = itertools.count(1)


class SmsBackend(BaseSmsBackend):
    def send(self, *, to: str, body: str) -> SentSms:
        message_id = f"LM{next(_ids):032d}"
        outbox.append({"to": to, "body": body, "message_id": message_id})
        return SentSms(message_id=message_id, status="sent")

    def redact(self, *, message_id: str) -> None:
        redacted.append(message_id)
