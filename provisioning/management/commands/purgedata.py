"""purgedata [--dry-run]: erase what is past its retention delay (the daily beat task's work)."""

from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from provisioning import retention


class Command(BaseCommand):
    help = (
        "Erase what is past its retention delay: deleted mailboxes' member data, old "
        "requests, import lines, login traces, SMS statuses, job errors. --dry-run only counts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="count what is due, erase nothing"
        )

    def handle(self, *args, dry_run: bool = False, **options):
        counts = retention.data_purge(actor=Actor.command("purgedata"), dry_run=dry_run)
        self.stdout.write(
            "Simulation (--dry-run) : rien n'est effacé. À effacer :" if dry_run else "Effacé :"
        )
        for line in retention.lines(counts):
            self.stdout.write(f"  {line}")
        if counts[retention.ERASURES_FAILED]:
            raise CommandError(
                f"{counts[retention.ERASURES_FAILED]} adresse(s) supprimée(s) pas encore "
                "effacée(s) : le serveur mail n'a pas répondu (détail dans le journal "
                "d'audit). La prochaine purge réessaie.",
                returncode=2,
            )
