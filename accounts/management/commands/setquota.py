"""setquota ADDRESS SIZE (`500M`, `2G`, `0` = none; `defaut`: the domain's), or @DOMAIN SIZE"""

from django.core.exceptions import ValidationError

from accounts.models import Mailbox
from provisioning import mailsync, quotas, services

from ..base import MailboxCommand

DOMAIN_DEFAULT = {"defaut", "défaut", "default"}
Status = Mailbox.Status
PENDING_REASON = "l'adresse attend son premier mot de passe, qui l'écrira avec son quota"


class Command(MailboxCommand):
    help = (
        "Set a mailbox's quota (500M, 2G, 0 for none, `defaut` for its domain's), or a "
        "domain's default with @DOMAIN. Ends once the mail table has it."
    )

    def add_arguments(self, parser):
        parser.add_argument("address", help="pierre@octopus-soignies.be, or @octopus-soignies.be")
        parser.add_argument("size", help="500M, 2G, 0 (no limit), or defaut")
        parser.add_argument(
            "--no-wait", action="store_true", help="only record it; the worker writes it"
        )

    def run(self, *, address, size, no_wait, **options):
        if address.strip().startswith("@"):
            return self.set_default(address.strip()[1:], size, no_wait=no_wait)
        quota = None if size.strip().lower() in DOMAIN_DEFAULT else quotas.parse_size(size)
        mailbox = quotas.mailbox_set_quota(mailbox=address, quota=quota, actor=self.actor)
        self.write_now(
            mailsync.mailbox_quota_sync,
            mailbox_id=mailbox.pk,
            no_wait=no_wait,
            why=lambda: PENDING_REASON if mailbox.status == Status.PENDING else "",
        )
        own = "" if mailbox.quota is not None else " (défaut du domaine)"
        self.stdout.write(
            self.style.SUCCESS(
                f"Quota de {mailbox.address} : {quotas.describe_quota(mailbox.effective_quota)}"
                f"{own}."
            )
        )

    def set_default(self, domain_name: str, size: str, *, no_wait: bool) -> None:
        if size.strip().lower() in DOMAIN_DEFAULT:
            raise ValidationError(
                "Un domaine n'a pas de défaut au-dessus de lui : donnez une taille."
            )
        domain = services.domain_get(name=domain_name)
        count = quotas.domain_set_default_quota(
            domain=domain, quota=quotas.parse_size(size), actor=self.actor
        )
        # A mailbox waiting for its first password gets the quota with it, from the worker.
        following = domain.mailboxes.filter(quota__isnull=True).exclude(status=Status.PENDING)
        for mailbox in [] if no_wait else following:
            self.write_now(mailsync.mailbox_quota_sync, mailbox_id=mailbox.pk, no_wait=False)
        self.stdout.write(
            self.style.SUCCESS(
                f"Quota par défaut de {domain.name} : "
                f"{quotas.describe_quota(domain.default_quota)} ({count} adresse(s) concernée(s))."
            )
        )
