"""One run of DNS checks: its findings, its cached lookups, and the levels they rank."""

from dataclasses import asdict, dataclass

from accounts.models import DnsLevel, Domain

from .. import dns
from ..exceptions import TransientError

OK, WARNING, ERROR = DnsLevel.OK, DnsLevel.WARNING, DnsLevel.ERROR
RANK = {OK: 0, WARNING: 1, ERROR: 2}
GIVE_UP_AFTER_TIMEOUTS = 2


@dataclass(frozen=True)
class Finding:
    check: str
    label: str
    level: str
    message: str
    record: str = ""  # what to publish, zone-file syntax; empty when all is well
    conclusive: bool = True

    @property
    def level_label(self) -> str:
        if not self.conclusive:
            return "indéterminé"
        return str(DnsLevel(self.level).label)

    def as_dict(self) -> dict:
        return {**asdict(self), "level_label": self.level_label}


class Lookups:
    """One run's queries: each asked once; none asked once the DNS has stopped answering."""

    def __init__(self):
        self._answers: dict = {}
        self._timeouts = 0

    def __call__(self, name: str, rdtype: str) -> dns.Answer:
        key = (name.strip().rstrip(".").lower(), rdtype)
        if key not in self._answers:
            if self._timeouts >= GIVE_UP_AFTER_TIMEOUTS:
                raise dns.DnsTimeout(
                    "Le serveur DNS ne répond plus (plusieurs délais dépassés) : contrôle "
                    "abandonné, ce qui ne veut pas dire que l'enregistrement manque."
                )
            try:
                self._answers[key] = dns.lookup(*key)
            except TransientError as exc:
                self._timeouts += isinstance(exc, dns.DnsTimeout)
                self._answers[key] = exc
        answer = self._answers[key]
        if isinstance(answer, TransientError):
            raise type(answer)(answer.message)
        return answer

    def addresses(self, host: str) -> list[str]:
        return [*self(host, "A").records, *self(host, "AAAA").records]


@dataclass
class Run:
    domain: Domain
    lookups: Lookups
    dkim_selector: str


# Each check returns (level, message, record to publish).
def _ok(message: str) -> tuple:
    return OK, message, ""


def _combine(subject: str, parts: list[tuple], record: str = "") -> tuple:
    """Several remarks in one finding: the worst level, `subject : remark ; remark.`"""
    level = max((level for level, _text in parts), key=RANK.get, default=OK)
    message = f"{subject} : {' ; '.join(text for _level, text in parts)}."
    return level, message, record if level != OK else ""
