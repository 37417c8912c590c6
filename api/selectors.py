"""What a token may read: the mailboxes, jobs and aliases of its domains (all when it names
none).

Built on provisioning.selectors, the read side the admin uses; an object of another domain
is looked up as if it did not exist (404, never 403).
"""

from django.db.models import Prefetch

from accounts.models import AliasDestination, Domain, Mailbox
from provisioning.aliasrules import aliases_by_local_part
from provisioning.models import ProvisioningJob
from provisioning.selectors import with_last_job

from .models import ApiToken


def mailboxes_for(token: ApiToken, *, domain: str = "", status: str = ""):
    """The token's mailboxes with their last delivery, in one query (constant count)."""
    mailboxes = Mailbox.objects.select_related("domain", "member")
    if token.domains_limited:
        mailboxes = mailboxes.filter(domain_id__in=token.domain_ids())
    if domain:
        mailboxes = mailboxes.filter(domain__name=domain.strip().lower())
    if status:
        mailboxes = mailboxes.filter(status=status)
    return with_last_job(mailboxes).order_by("domain__name", "local_part", "pk")


def mailbox_for(token: ApiToken, address: str) -> Mailbox | None:
    """The mailbox at this full address, if the token reaches it; None otherwise."""
    local_part, _at, domain_name = address.strip().lower().rpartition("@")
    if not local_part or not domain_name:
        return None
    return mailboxes_for(token).filter(local_part=local_part, domain__name=domain_name).first()


def job_for(token: ApiToken, pk: int) -> ProvisioningJob | None:
    job = ProvisioningJob.objects.select_related("mailbox__domain").filter(pk=pk).first()
    if job is None or not token.reaches(job.mailbox.domain_id):
        return None
    return job


def aliases_for(token: ApiToken, *, domain: str = ""):
    """The token's aliases (not those being deleted), their destinations prefetched in order:
    two queries whatever their number."""
    destinations = AliasDestination.objects.order_by("position", "pk")
    aliases = (
        aliases_by_local_part()
        .filter(deleted=False)
        .select_related("domain")
        .prefetch_related(Prefetch("destinations", queryset=destinations))
    )
    if token.domains_limited:
        aliases = aliases.filter(domain_id__in=token.domain_ids())
    if domain:
        aliases = aliases.filter(domain__name=domain.strip().lower())
    return aliases.order_by("domain__name", "low", "pk")


def alias_for(token: ApiToken, source: str):
    """The alias at this full address, if the token reaches it; None otherwise."""
    local_part, _at, domain_name = source.strip().lower().rpartition("@")
    if not local_part or not domain_name:
        return None
    return aliases_for(token).filter(low=local_part, domain__name=domain_name).first()


def out_of_reach(token: ApiToken, addresses: list[str]) -> list[str]:
    """The addresses of a domain hosted here that a limited token does not reach: they may
    not be named (nor probed: whether they exist is never said). roles.access.hosted_elsewhere
    asks the same of a gestionnaire."""
    if not token.domains_limited:
        return []
    reached = domain_names(token)
    hosted = {name.lower() for name in Domain.objects.values_list("name", flat=True)}
    foreign = hosted - reached
    return [a for a in addresses if "@" in a and a.rpartition("@")[2].strip().lower() in foreign]


def domain_names(token: ApiToken) -> set[str]:
    """The names of the domains a token names (prefetched by the lookup)."""
    return {domain.name.lower() for domain in token.domains.all()}
