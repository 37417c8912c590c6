"""The read side: what the admin pages (and later the API) show of the jobs and aliases."""

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import dateformat, timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Alias, AliasDestination
from roles.groups import ADMINISTRATORS
from roles.models import DomainDelegation

from .models import SMS_DELIVERED, SMS_FINAL, SMS_NOT_DELIVERED, JobState, ProvisioningJob
from .sms.twilio import explain


def with_last_job(mailboxes):
    """Mailboxes with their last job (`last_job`, kept on the mailbox): one join, no query
    per row, and the filters of LAST_SMS apply."""
    return mailboxes.select_related("last_job")


# The questions asked of the mailbox list, on the mailbox's `last_job`.
LAST_SMS = {
    "delivered": (_("remis"), Q(last_job__sms_status__in=SMS_DELIVERED)),
    "not_delivered": (_("non remis"), Q(last_job__sms_status__in=SMS_NOT_DELIVERED)),
    "unconfirmed": (
        _("envoyé, sans accusé de réception"),
        Q(last_job__state=JobState.DONE)
        & ~Q(last_job__sms_status__in=[*SMS_NOT_DELIVERED, *SMS_DELIVERED]),
    ),
    "failed": (_("échec de l'envoi"), Q(last_job__state=JobState.FAILED)),
    "in_flight": (
        _("en attente ou en cours"),
        Q(last_job__state__in=[JobState.QUEUED, JobState.RUNNING]),
    ),
}


def _day_and_time(moment) -> str:
    return dateformat.format(timezone.localtime(moment), "d/m à H:i") if moment else ""


def delivery_summary(
    *, state: str, sms_status: str, sent_at, status_at, error_code: int | None, last_error: str
) -> tuple[str, str]:
    """(tone, French text) of a job's delivery, read at a glance: ok, waiting or error."""
    if state == JobState.FAILED:
        return "error", f"Échec : {last_error}"
    if state != JobState.DONE:
        label = str(JobState(state).label).capitalize()
        return "waiting", f"{label} — {last_error}" if last_error else label
    if sms_status in SMS_NOT_DELIVERED:
        reason = f"{explain(error_code)} ({error_code})" if error_code else "raison inconnue"
        return "error", f"SMS non remis : {reason}"
    if sms_status in SMS_DELIVERED:
        return "ok", f"SMS remis le {_day_and_time(status_at or sent_at)}"
    return "ok", f"SMS envoyé le {_day_and_time(sent_at)}, accusé de réception attendu"


def job_summary(job: ProvisioningJob) -> tuple[str, str, bool]:
    """(tone, French text, settled) of one job; settled once nothing more will change."""
    tone, text = delivery_summary(
        state=job.state,
        sms_status=job.sms_status,
        sent_at=job.sms_sent_at,
        status_at=job.sms_status_at,
        error_code=job.sms_error_code,
        last_error=job.last_error,
    )
    settled = job.state == JobState.FAILED or (
        job.state == JobState.DONE and job.sms_status in SMS_FINAL
    )
    return tone, text, settled


def sms_failure_reason(job: ProvisioningJob) -> str:
    """`numéro injoignable (30003)`: what the administrator reads about an SMS not delivered."""
    if job.sms_error_code:
        return f"{explain(job.sms_error_code)} ({job.sms_error_code})"
    return "raison non précisée par l'opérateur"


def alert_recipients(domain_ids: Iterable[int]) -> dict[str, frozenset[int]]:
    """Who hears of what happens in these domains: each address, with the domains among
    them it may hear of. Administrators (superusers, « Administrateurs ») hear of all; a
    gestionnaire only of the domains entrusted to them, as in the admin (roles.access).
    Active staff users with an email address only."""
    ids = frozenset(domain_ids)
    staff = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
    administrators = staff.filter(Q(is_superuser=True) | Q(groups__name=ADMINISTRATORS))
    everything = set(administrators.values_list("email", flat=True))
    recipients = dict.fromkeys(everything, ids)
    delegated = DomainDelegation.objects.filter(user__in=staff, domain_id__in=ids)
    for address, domain_id in delegated.values_list("user__email", "domain_id"):
        if address not in everything:
            recipients[address] = recipients.get(address, frozenset()) | {domain_id}
    return recipients


def staff_addresses(domain_id: int | None) -> list[str]:
    """Who receives an alert about one domain (an SMS not delivered, a request to approve);
    None: about no domain in particular, administrators only."""
    return sorted(alert_recipients([] if domain_id is None else [domain_id]))


def alert_groups(domain_ids: Iterable[int]) -> list[tuple[list[str], frozenset[int]]]:
    """The recipients of an alert about several domains, grouped by what they may read: one
    email per group, each with its own domains' part (administrators get it whole)."""
    groups: dict[frozenset[int], list[str]] = {}
    for address, ids in alert_recipients(domain_ids).items():
        groups.setdefault(ids, []).append(address)
    ordered = sorted(groups.items(), key=lambda group: (-len(group[0]), sorted(group[0])))
    return [(sorted(addresses), ids) for ids, addresses in ordered]


def aliases_reaching(
    address: str, *, domains: frozenset[str] | None = None
) -> list[tuple[Alias, tuple[str, ...]]]:
    """The aliases whose mail reaches `address`, directly or through other aliases: each
    with the aliases it goes through (`bureau@` via `info@`), nearest first. `domains`: the
    only domains whose aliases may be named (a gestionnaire's); None: every domain."""
    address = address.lower()
    found: dict[str, tuple[Alias, tuple[str, ...]]] = {}
    # address → the aliases between it and `address` (mail to it goes through them)
    targets: dict[str, tuple[str, ...]] = {address: ()}
    while targets:
        destinations = AliasDestination.objects.filter(
            address__in=list(targets), alias__deleted=False
        ).select_related("alias__domain")
        reached = {}
        for destination in destinations.order_by("alias__local_part", "alias__pk"):
            alias = destination.alias
            if alias.address in found or alias.address == address:
                continue
            via = targets[destination.address]
            found[alias.address] = (alias, via)
            reached[alias.address] = (alias.address, *via)
        targets = reached
    return [
        (alias, via)
        for alias, via in found.values()
        if domains is None
        or all(name.rpartition("@")[2].lower() in domains for name in (alias.address, *via))
    ]


def still_reaching_note(address: str, *, domains: frozenset[str] | None = None) -> str | None:
    """French, for a mailbox being disabled: the aliases whose mail will no longer reach it."""
    reaching = aliases_reaching(address, domains=domains)
    if not reaching:
        return None
    names = ", ".join(alias.address for alias, _via in reaching)
    return (
        f"Alias qui mènent encore à {address} : {names} ; leur courrier ne lui parvient plus "
        "(retirez-la de ces alias, dans « Alias et listes »)."
    )
