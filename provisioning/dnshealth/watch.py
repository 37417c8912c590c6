"""The daily DNS watch: check every domain, email the administrators when a check gets worse."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import DnsCheckState, DnsLevel, Domain

from .. import emails, selectors
from . import domain_check_dns
from .lookups import RANK, Finding

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    domain: Domain
    finding: Finding
    previous: str  # a DnsLevel value

    @property
    def previous_label(self) -> str:
        return str(DnsLevel(self.previous).label)

    @property
    def worse(self) -> bool:
        return RANK[self.finding.level] > RANK[self.previous]


# The last conclusive level of each check is kept in `DnsCheckState`; an email goes out when
# a check moves from ok to warning or error, or from warning to error — once, not every day
# while it stays broken. A check never seen before counts as ok, so the first run reports what
# is already broken. Inconclusive results (DNS timeouts) change nothing and alert nobody.
# The recipients are those of every alert (selectors.alert_recipients): the administrators
# for every domain, each gestionnaire for the domains entrusted to them; active staff users
# with an email address, kept up to date in the admin (`createadmin --email`).
def domains_watch_dns() -> list[Change]:
    """Check every domain; email the worsened checks; then remember the new levels."""
    now = timezone.now()
    changes = []
    for domain in Domain.objects.all():
        states = {state.check_name: state for state in domain.dns_states.all()}
        for finding in domain_check_dns(domain=domain):
            if not finding.conclusive:
                continue
            state = states.get(finding.check)
            changes.append(Change(domain, finding, state.level if state else DnsLevel.OK))
    worse = [change for change in changes if change.worse]
    if worse:
        _alert(worse)  # before saving: an email that fails is tried again with the same news
    _remember(changes, now)
    return worse


def _remember(changes: list[Change], now) -> None:
    with transaction.atomic():
        for change in changes:
            state, created = DnsCheckState.objects.get_or_create(
                domain=change.domain,
                check_name=change.finding.check,
                defaults={"level": change.finding.level, "checked_at": now, "changed_at": now},
            )
            if not created and state.level != change.finding.level:
                state.changed_at = now
            state.level, state.message = change.finding.level, change.finding.message
            state.checked_at = now
            state.save()


def _alert(worse: list[Change]) -> None:
    """One email per group of recipients: the administrators hear of every domain, a
    gestionnaire of theirs only."""
    groups = selectors.alert_groups({change.domain.pk for change in worse})
    if not groups:
        logger.warning("%d DNS check(s) got worse, and no administrator has an email", len(worse))
        return
    administrators = set(selectors.staff_addresses(None))
    for recipients, domain_ids in groups:
        theirs = [change for change in worse if change.domain.pk in domain_ids]
        # A gestionnaire may not open the DNS page: their email says whom to ask instead.
        for can_open in (True, False):
            to = [a for a in recipients if (a in administrators) is can_open]
            if theirs and to:
                context = {**_context(theirs), "can_open_dns": can_open}
                emails.send_rendered(template="dns_alert", context=context, to=to, html=False)


def _context(worse: list[Change]) -> dict:
    domains = sorted({change.domain.pk: change.domain for change in worse}.values(), key=str)
    return {
        "changes": worse,
        "domains": [
            {
                "domain": domain,
                "changes": [change for change in worse if change.domain == domain],
                "url": settings.PUBLIC_BASE_URL
                + reverse("admin:accounts_domain_dns", args=[domain.pk]),
            }
            for domain in domains
        ],
    }
