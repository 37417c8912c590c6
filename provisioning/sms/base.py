"""The SMS backend interface, and the GSM-7 rules every message must follow."""

from dataclasses import dataclass

import phonenumbers

# GSM 03.38 basic character set; one of anything else turns the SMS into UCS-2 (70 a segment).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
SEGMENT_LENGTH = 160


def mask_phone(number: str) -> str:
    """`+32 4•• •• •• 12`: enough for the member to recognise their number, and no more.

    The one masking rule for the admin, the emails, the commands and the SMS logs.
    """
    number = str(number or "")
    if not number:
        return ""
    try:
        country = f"+{phonenumbers.parse(number, None).country_code}"
    except phonenumbers.NumberParseException:
        country = ""
    national = number[len(country) :]
    if len(national) < 4:
        return f"{country} {'•' * len(national)}".strip()
    masked = national[0] + "•" * len(national[1:-2]) + national[-2:]
    groups = [masked[:3]] + [masked[i : i + 2] for i in range(3, len(masked), 2)]
    return f"{country} {' '.join(groups)}".strip()


def is_gsm7(text: str) -> bool:
    return all(char in GSM7_BASIC for char in text)


def fits_one_segment(text: str) -> bool:
    return is_gsm7(text) and len(text) <= SEGMENT_LENGTH


@dataclass(frozen=True)
class SentSms:
    """What a provider said when it accepted a message."""

    message_id: str
    status: str = "sent"


class BaseSmsBackend:
    """Sends one SMS; raises TransientError or PermanentError with a French message.

    `shared`: one instance may serve a whole process, from several threads at once.
    """

    shared = False

    def send(self, *, to: str, body: str) -> SentSms:
        raise NotImplementedError

    def redact(self, *, message_id: str) -> None:
        """Erase the text wherever the backend kept it; nothing to do when it keeps none."""
