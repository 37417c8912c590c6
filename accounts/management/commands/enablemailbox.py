"""enablemailbox ADDRESS"""

from provisioning import services

from ..jobs import MailboxCommand, mailbox_from


class Command(MailboxCommand):
    help = "Enable a disabled mailbox again, with its current password."

    def run(self, *, address, **options):
        mailbox = mailbox_from(address)
        services.mailbox_enable(mailbox=mailbox)
        self.stdout.write(self.style.SUCCESS(f"{mailbox.address} est réactivée."))
