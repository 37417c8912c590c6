"""disablemailbox ADDRESS"""

from provisioning import services

from ..jobs import MailboxCommand, mailbox_from


class Command(MailboxCommand):
    help = "Disable a mailbox: IMAP and SMTP logins are refused at once."

    def run(self, *, address, **options):
        mailbox = mailbox_from(address)
        services.mailbox_disable(mailbox=mailbox)
        self.stdout.write(self.style.SUCCESS(f"{mailbox.address} est désactivée."))
