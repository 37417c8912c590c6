"""Drift between the app's mailboxes and the mail-server table, and its repair.

The app repairs only what it owns (the `active` flag of its own mailboxes); rows it does
not know are reported and never touched, and a missing row is reported with the command
that gives the member a new password.
"""

from dataclasses import dataclass

from accounts.models import Domain, Mailbox

from . import mailserver

Status = Mailbox.Status


@dataclass(frozen=True)
class Drift:
    address: str
    kind: str  # missing, unknown, should_be_active, should_be_disabled
    message: str

    @property
    def fixable(self) -> bool:
        return self.kind in {"should_be_active", "should_be_disabled"}


MESSAGES = {
    "missing": "{address} : active ici mais absente de la table ; envoyez un nouveau mot de "
    "passe (resetpassword {address}).",
    "unknown": "{address} : dans la table mais inconnue de l'application (laissée telle quelle).",
    "should_be_disabled": "{address} : désactivée ici mais encore active dans la table.",
    "should_be_active": "{address} : active ici mais désactivée dans la table.",
}


def _drift_of(address: str, kind: str) -> Drift:
    return Drift(address, kind, MESSAGES[kind].format(address=address))


def drifts_find() -> list[Drift]:
    findings = []
    for domain in Domain.objects.order_by("name"):
        rows = mailserver.domain_users(domain.name)
        mailboxes = {m.address: m for m in Mailbox.objects.filter(domain=domain)}
        for address, mailbox in sorted(mailboxes.items()):
            kind = _drift_kind(mailbox.status, rows.get(address))
            if kind:
                findings.append(_drift_of(address, kind))
        findings += [_drift_of(a, "unknown") for a in sorted(set(rows) - set(mailboxes))]
    return findings


def _drift_kind(status: str, active: bool | None) -> str | None:
    if active is None:
        # Pending (first password on its way) or disabled: nothing to log in with, as wanted.
        return "missing" if status == Status.ACTIVE else None
    if status in (Status.DISABLED, Status.DELETED) and active:
        return "should_be_disabled"
    if status == Status.ACTIVE and not active:
        return "should_be_active"
    return None


def drifts_fix(findings: list[Drift]) -> list[Drift]:
    """Apply what the app owns; returns the findings it repaired."""
    repaired = []
    for finding in findings:
        if finding.fixable:
            active = finding.kind == "should_be_active"
            mailserver.user_set_active(address=finding.address, active=active)
            repaired.append(finding)
    return repaired
