"""enablemailbox ADDRESS"""

from audit.models import Action
from provisioning import services

from ..jobs import MailboxCommand, mailbox_from


class Command(MailboxCommand):
    help = "Enable a disabled mailbox again, with its current password."
    audit_action = Action.MAILBOX_ENABLE

    def run(self, *, address, **options):
        mailbox = mailbox_from(address)
        services.mailbox_enable(mailbox=mailbox)
        self.stdout.write(self.style.SUCCESS(f"{mailbox.address} est réactivée."))
