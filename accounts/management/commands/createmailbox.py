"""createmailbox ADDRESS --name NAME --phone PHONE --personal-email EMAIL"""

from django.core.exceptions import ValidationError

from provisioning import services

from ..base import MailboxCommand


class Command(MailboxCommand):
    help = "Create a mailbox; its password is generated and sent to the member by SMS."
    waits = True

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--name", required=True, help="the member's full name")
        parser.add_argument("--phone", required=True, help="mobile number, e.g. +32470123456")
        parser.add_argument("--personal-email", required=True, help="the member's own address")

    def run(self, *, address, name, phone, personal_email, **options):
        local_part, at, domain_name = address.strip().rpartition("@")
        if not at or not local_part:
            raise ValidationError(f"« {address} » n'est pas une adresse complète (nom@domaine).")
        outcome = services.mailbox_create(
            local_part=local_part,
            domain=services.domain_get(name=domain_name),
            full_name=name,
            personal_email=personal_email,
            phone=phone,
            actor=self.actor,
            allow_reserved=True,  # an operator's command: created, with a warning
        )
        if outcome.warning:
            self.stderr.write(outcome.warning)
        self.report(outcome.job, **options)
