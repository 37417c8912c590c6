"""Quotas: a default per domain, an override per mailbox, and the usage Dovecot reports.

Sizes are bytes everywhere (0: no limit) and read or written by people as `500M`, `2G`
(binary units, as Dovecot counts them). A change is recorded in the app database with its
audit entry; the worker copies it to the mail table (provisioning.mailsync). Usage is read
from Dovecot's quota dict table `quota2`, beside the limit the mail table gives Dovecot.
"""

import logging
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Domain, Mailbox
from audit.models import Action
from audit.services import Actor, audited

from . import mailserver, tasks
from .exceptions import ProvisioningError

logger = logging.getLogger(__name__)

UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
UNIT_NAMES = (("To", 1024**4), ("Go", 1024**3), ("Mo", 1024**2), ("Ko", 1024))
MAX_QUOTA = 1024**5  # 1 Po: beyond it, surely a typing mistake
NEARLY_FULL_PERCENT = 90
_SIZE = re.compile(r"^(\d+(?:[.,]\d+)?)\s*([KMGT]?)(?:[IO]?B?|O)?$")


def parse_size(text: str) -> int:
    """`500M`, `2G`, `1,5G`, `0` → bytes; a French ValidationError for anything else."""
    value = (text or "").strip().upper().replace(" ", "")
    match = _SIZE.match(value)
    if not match:
        raise ValidationError(
            f"« {text} » n'est pas une taille : écrivez par exemple 500M, 2G, ou 0 pour "
            "aucune limite.",
            code="invalid_size",
        )
    number, unit = match.groups()
    size = int(float(number.replace(",", ".")) * UNITS[unit])
    if size > MAX_QUOTA:
        raise ValidationError(f"« {text} » dépasse 1 Po : vérifiez l'unité.", code="too_big")
    return size


def format_size(size: int) -> str:
    """Bytes → `412 Mo`, `2 Go`, `1,5 Go`: what the administrator reads."""
    for name, factor in UNIT_NAMES:
        if size >= factor:
            value = size / factor
            text = f"{value:.0f}" if value >= 100 or value == int(value) else f"{value:.1f}"
            return f"{text.replace('.', ',')} {name}"
    return f"{size} octets"


def size_for_input(size: int | None) -> str:
    """Bytes → `2G`, `500M`: the text a form shows, which parse_size reads back exactly."""
    if size is None:
        return ""
    for unit in ("T", "G", "M", "K"):
        if size and size % UNITS[unit] == 0:
            return f"{size // UNITS[unit]}{unit}"
    return str(size)


def describe_quota(size: int) -> str:
    return "sans limite" if size == 0 else format_size(size)


# --- Use cases ---------------------------------------------------------------------------


def mailbox_set_quota(*, mailbox: Mailbox | str, quota: int | None, actor: Actor) -> Mailbox:
    """Set a mailbox's own quota in bytes (0: no limit; None: its domain's default).

    `mailbox` is a Mailbox, or its full address as typed (commands, API). The worker writes
    it to the mail table; a mailbox without its row yet gets it with its first password.
    """
    from .services import mailbox_get  # services imports this module's neighbours

    target = mailbox.address if isinstance(mailbox, Mailbox) else mailbox.strip().lower()
    with audited(Action.QUOTA_SET, actor=actor, target=target) as act:
        if not isinstance(mailbox, Mailbox):
            mailbox = mailbox_get(address=mailbox)
        _check(quota)
        before = describe_quota(mailbox.effective_quota)
        with transaction.atomic():
            Mailbox.objects.filter(pk=mailbox.pk).update(
                quota=quota, quota_version=F("quota_version") + 1,
                quota_sync_requested_at=timezone.now(), updated_at=timezone.now(),
            )  # fmt: skip
            tasks.sync_mailbox_quota.ring_on_commit(mailbox.pk)
        mailbox.refresh_from_db()
        own = "" if quota is not None else " (défaut du domaine)"
        act.detail = f"{before} → {describe_quota(mailbox.effective_quota)}{own}"
    logger.info("quota of %s set to %s", mailbox.address, mailbox.effective_quota)
    return mailbox


def domain_set_default_quota(*, domain: Domain, quota: int, actor: Actor) -> int:
    """Set a domain's default quota; its mailboxes without their own follow. Returns how many."""
    with audited(Action.QUOTA_SET, actor=actor, target=f"@{domain.name}") as act:
        _check(quota)
        before = Domain.objects.get(pk=domain.pk).default_quota
        following = Mailbox.objects.filter(domain=domain, quota__isnull=True)
        with transaction.atomic():
            Domain.objects.filter(pk=domain.pk).update(default_quota=quota)
            pks = list(following.values_list("pk", flat=True))
            following.update(
                quota_version=F("quota_version") + 1, quota_sync_requested_at=timezone.now()
            )
            for pk in pks:
                tasks.sync_mailbox_quota.ring_on_commit(pk)
        domain.default_quota = quota
        act.detail = (
            f"quota par défaut {describe_quota(before)} → {describe_quota(quota)} ; "
            f"{len(pks)} adresse(s) concernée(s)"
        )
    return len(pks)


def _check(quota: int | None) -> None:
    if quota is not None and not 0 <= quota <= MAX_QUOTA:
        raise ValidationError("Le quota doit être compris entre 0 (sans limite) et 1 Po.")


# --- Usage, as Dovecot counts it -----------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    used: int  # bytes, from quota2
    limit: int  # bytes the mail table gives Dovecot; 0: no limit
    messages: int

    @property
    def percent(self) -> int | None:
        return None if not self.limit else min(100, round(100 * self.used / self.limit))

    @property
    def nearly_full(self) -> bool:
        return bool(self.limit) and self.used * 100 >= self.limit * NEARLY_FULL_PERCENT

    @property
    def text(self) -> str:
        """« 412 Mo sur 2 Go », or « 412 Mo (sans limite) »."""
        used = format_size(self.used) if self.used else "0 Mo"
        if not self.limit:
            return f"{used} (sans limite)"
        return f"{used} sur {format_size(self.limit)}"


def usage_of(addresses: list[str]) -> dict[str, Usage]:
    """What Dovecot counted for each address; an address it has not counted is absent, and
    all are when the mail database does not answer (the page still shows, without usage)."""
    try:
        rows = mailserver.quota_usage(addresses)
    except ProvisioningError as exc:
        logger.warning("quota usage not read: %s", exc.message)
        return {}
    return {
        address: Usage(used=row["bytes"], limit=row["quota"], messages=row["messages"])
        for address, row in rows.items()
    }


def nearly_full_addresses() -> list[str] | None:
    """The addresses above NEARLY_FULL_PERCENT of their quota; None when it cannot be read."""
    try:
        return mailserver.users_nearly_full(percent=NEARLY_FULL_PERCENT)
    except ProvisioningError as exc:
        logger.warning("nearly full mailboxes not read: %s", exc.message)
        return None
