"""Writing the audit trail: who (a user, a command, the system), from where, did what."""

import getpass
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from octopus_mail.security import client_ip
from provisioning.exceptions import ProvisioningError

from .models import Action, AuditRecord, Outcome

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

    @classmethod
    def system(cls, what: str) -> "Actor":
        """The app itself acting (a scheduled task, a worker): `système (purge quotidienne)`."""
        return cls(label=f"{SYSTEM_LABEL} ({what})")


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


class AuditedAct:
    """The act being recorded: the use case fills in `target` and `detail` as it learns them."""

    def __init__(self, target: str, detail: str):
        self.target = target
        self.detail = detail


@contextmanager
def audited(action: str, *, actor: Actor, target: str = "", detail: str = ""):
    """Record the act when the block ends: refused on a ValidationError, an error on a
    ProvisioningError, a success otherwise; the exception goes on to the caller.

    The record is written where the block ends: a use case opens this block outside its own
    transaction, so that a refusal is kept even though the writes it attempted are not.
    """
    act = AuditedAct(target, detail)
    try:
        yield act
    except ValidationError as exc:
        audit_record(actor=actor, action=action, target=act.target, outcome=Outcome.REFUSED,
                     detail=" ".join(exc.messages))  # fmt: skip
        raise
    except ProvisioningError as exc:
        audit_record(actor=actor, action=action, target=act.target, outcome=Outcome.ERROR,
                     detail=exc.message)  # fmt: skip
        raise
    audit_record(actor=actor, action=action, target=act.target, detail=act.detail)


def audit_unlocks(*, attempts, actor: Actor) -> None:
    """One record per lifted lockout (django-axes' attempts), before they are deleted."""
    for attempt in attempts:
        audit_record(
            actor=actor, action=Action.UNLOCK, target=attempt.username or "",
            detail=f"{attempt.failures_since_start} échec(s) effacé(s) pour l'IP "
            f"{attempt.ip_address}",
        )  # fmt: skip
