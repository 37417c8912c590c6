"""Writing the audit trail: who (a user, a command, the system), from where, did what."""

import getpass
from dataclasses import dataclass

from octopus_mail.security import client_ip

from .models import AuditRecord, Outcome

SYSTEM_LABEL = "système"


@dataclass(frozen=True)
class Actor:
    label: str
    user: object = None
    ip: str | None = None

    @classmethod
    def from_request(cls, request, user=None) -> "Actor":
        user = user or getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return cls(label="anonyme", ip=client_ip(request))
        return cls(label=user.get_username(), user=user, ip=client_ip(request))

    @classmethod
    def command(cls, name: str) -> "Actor":
        try:
            account = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, as in some containers
            account = "?"
        return cls(label=f"{SYSTEM_LABEL} (commande {name}, compte {account})")


def audit_record(
    *, actor: Actor, action: str, target: str = "", outcome: str = Outcome.SUCCESS, detail: str = ""
) -> AuditRecord:
    """Write one record. Callers describe the act; they never pass what someone typed."""
    return AuditRecord.objects.create(
        actor=actor.user,
        actor_label=actor.label[:200],
        ip=actor.ip,
        action=action,
        target=target[:254],
        outcome=outcome,
        detail=detail,
    )
