"""The worker's copy of aliases and quotas from the app database to the mail table.

Each change raises a version in the app database, in the transaction that records it, and
rings a task on commit. The task writes the current state, then records the version it
wrote, unless a newer change came meanwhile: then it writes again, so that the last write
is always of the latest state. The database is the record and the broker only a doorbell
(invariant 4): the sweep rings again for anything still pending.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Alias, Mailbox

from . import mailserver, tasks
from .exceptions import PermanentError, TransientError
from .models import ProvisioningJob

logger = logging.getLogger(__name__)
ROUNDS = 3  # writes in one call while the record keeps changing; then the next bell's turn
SWEEP_BATCH = 500


def alias_sync(*, alias_id: int) -> bool:
    """Write one alias to the mail table (or remove it); True once the table has its latest
    state. Raises TransientError to be retried; a PermanentError is kept on the alias."""
    for _round in range(ROUNDS):
        alias = Alias.objects.select_related("domain").filter(pk=alias_id).first()
        if alias is None or alias.synced:
            return True
        version = alias.version
        try:
            _write_alias(alias)
        except (TransientError, PermanentError) as exc:
            Alias.objects.filter(pk=alias_id, version=version).update(sync_error=exc.message)
            if isinstance(exc, TransientError):
                raise
            logger.error("alias %s not written: %s", alias.address, exc.message)
            return False
        if _alias_written(alias, version):
            logger.info("alias %s written to the mail table (version %s)", alias, version)
            return True
    return False


def _write_alias(alias: Alias) -> None:
    if alias.deleted:
        mailserver.alias_delete(source=alias.address)
        return
    destinations = list(alias.destinations.order_by("position").values_list("address", flat=True))
    mailserver.alias_set(source=alias.address, destinations=destinations, active=alias.active)


def _alias_written(alias: Alias, version: int) -> bool:
    """Record the version written, if it still is the latest; a deleted alias goes."""
    latest = Alias.objects.filter(pk=alias.pk, version=version)
    if alias.deleted:
        deleted, _per_model = latest.delete()
        return deleted > 0
    return latest.update(synced_version=version, sync_error="") > 0


def mailbox_quota_sync(*, mailbox_id: int) -> bool:
    """Write a mailbox's quota to the mail table; True once it holds the latest one.

    A mailbox without its row yet gets its quota with its first password; while that job is
    in flight it may have read the quota before this change, so the sweep comes back later.
    """
    for _round in range(ROUNDS):
        mailbox = Mailbox.objects.select_related("domain").filter(pk=mailbox_id).first()
        if mailbox is None or mailbox.quota_synced_version >= mailbox.quota_version:
            return True
        version = mailbox.quota_version
        try:
            found = mailserver.user_set_quota(
                address=mailbox.address, quota=mailbox.effective_quota
            )
        except PermanentError as exc:
            logger.error("quota of %s not written: %s", mailbox.address, exc.message)
            return False
        if not found and ProvisioningJob.objects.in_flight().filter(mailbox=mailbox).exists():
            return False
        written = Mailbox.objects.filter(pk=mailbox_id, quota_version=version)
        if written.update(quota_synced_version=version):
            return True
    return False


def mail_table_sweep(*, now=None) -> dict[str, int]:
    """Ring again for aliases and quotas still pending after a grace period (lost message,
    worker gone, mail database away longer than the retries): one bell each a period."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.PROVISIONING_QUEUED_GRACE)
    aliases = Alias.objects.filter(synced_version__lt=F("version"), sync_requested_at__lt=grace)
    quotas = Mailbox.objects.filter(quota_synced_version__lt=F("quota_version")).filter(
        Q(quota_sync_requested_at__isnull=True) | Q(quota_sync_requested_at__lt=grace)
    )
    rung = {"aliases": 0, "quotas": 0}
    for pk in aliases.values_list("pk", flat=True)[:SWEEP_BATCH]:
        if aliases.filter(pk=pk).update(sync_requested_at=now):
            tasks.sync_alias.ring_on_commit(pk)
            rung["aliases"] += 1
    for pk in quotas.values_list("pk", flat=True)[:SWEEP_BATCH]:
        if quotas.filter(pk=pk).update(quota_sync_requested_at=now):
            tasks.sync_mailbox_quota.ring_on_commit(pk)
            rung["quotas"] += 1
    if any(rung.values()):
        logger.warning("sweep rang again for the mail table: %s", rung)
    return rung
