"""disablemailbox ADDRESS"""

from audit.models import Action
from provisioning import services

from ..jobs import MailboxCommand, mailbox_from


class Command(MailboxCommand):
    help = "Disable a mailbox: IMAP and SMTP logins are refused at once."
    audit_action = Action.MAILBOX_DISABLE

    def run(self, *, address, **options):
        mailbox = mailbox_from(address)
        services.mailbox_disable(mailbox=mailbox)
        self.stdout.write(self.style.SUCCESS(f"{mailbox.address} est désactivée."))
