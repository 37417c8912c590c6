"""disablemailbox ADDRESS"""

from provisioning import selectors, services

from ..base import MailboxCommand


class Command(MailboxCommand):
    help = "Disable a mailbox: IMAP and SMTP logins are refused at once."

    def run(self, *, address, **options):
        mailbox = services.mailbox_disable(mailbox=address, actor=self.actor)
        self.stdout.write(self.style.SUCCESS(f"{mailbox.address} est désactivée."))
        note = selectors.still_reaching_note(mailbox.address)
        if note:
            self.stderr.write(note)
