"""resetpassword ADDRESS"""

from provisioning import services

from ..base import MailboxCommand


class Command(MailboxCommand):
    help = "Send a new password to the mailbox's member by SMS; the old one stops working."
    waits = True

    def run(self, *, address, **options):
        outcome = services.mailbox_password_reset(mailbox=address, actor=self.actor)
        if outcome.merged:
            self.stdout.write("Un envoi était déjà en cours pour cette adresse : il est suivi.")
        self.report(outcome.job, **options)
