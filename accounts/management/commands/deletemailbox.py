"""deletemailbox ADDRESS [--now --yes]"""

from django.core.management.base import CommandError

from provisioning import deletion
from provisioning.erasure import day

from ..base import MailboxCommand

NOW_WITHOUT_YES = (
    "--now efface tout de suite et pour toujours le nom, le GSM et l'email personnel du "
    "membre, sa ligne dans la table du serveur mail et ses destinations d'alias : ajoutez "
    "--yes pour le confirmer. Rien n'a été modifié."
)


class Command(MailboxCommand):
    help = (
        "Delete a mailbox: IMAP and SMTP logins are refused at once; its member's data is "
        "erased after MEMBER_RETENTION_DAYS, or at once with --now --yes."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--now", action="store_true", help="erase its data at once (needs --yes)"
        )
        parser.add_argument("--yes", action="store_true", help="confirm --now: it cannot be undone")

    def run(self, *, address, now, yes, **options):
        if now and not yes:
            raise CommandError(NOW_WITHOUT_YES)
        outcome = deletion.mailbox_delete(mailbox=address, actor=self.actor, erase_now=now)
        mailbox = outcome.mailbox
        if outcome.reaching:
            self.stderr.write(
                f"Alias qui menaient à {mailbox.address} : {', '.join(outcome.reaching)}."
            )
        if outcome.erased:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{mailbox.address} est supprimée et ses données sont effacées "
                    "(l'adresse ne sera jamais redonnée)."
                )
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"{mailbox.address} est supprimée : plus aucune connexion possible. Ses données "
                f"seront effacées le {day(outcome.erase_after)}."
            )
        )
        if outcome.erase_error:
            raise CommandError(
                f"Supprimée, mais pas encore effacée : {outcome.erase_error} Relancez la "
                "commande avec --now --yes, ou l'effacement se fera à la date prévue.",
                returncode=2,
            )
