"""enablemailbox ADDRESS"""

from provisioning import services

from ..base import MailboxCommand


class Command(MailboxCommand):
    help = "Enable a disabled mailbox again, with its current password."

    def run(self, *, address, **options):
        mailbox = services.mailbox_enable(mailbox=address, actor=self.actor)
        self.stdout.write(self.style.SUCCESS(f"{mailbox.address} est réactivée."))
