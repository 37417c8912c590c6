"""What a token may read: the mailboxes and jobs of its domains (all when it names none).

Built on provisioning.selectors, the read side the admin uses; an object of another domain
is looked up as if it did not exist (404, never 403).
"""

from accounts.models import Mailbox
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
