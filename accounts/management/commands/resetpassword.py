"""resetpassword ADDRESS"""

from audit.models import Action
from provisioning import services

from ..jobs import MailboxCommand, mailbox_from


class Command(MailboxCommand):
    help = "Send a new password to the mailbox's member by SMS; the old one stops working."
    audit_action = Action.PASSWORD_RESET
    waits = True

    def run(self, *, address, **options):
        outcome = services.mailbox_password_reset(mailbox=mailbox_from(address))
        if outcome.merged:
            self.stdout.write("Un envoi était déjà en cours pour cette adresse : il est suivi.")
        self.report(outcome.job, **options)
