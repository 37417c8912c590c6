"""mailserver_audit [--fix]: the drift between the app's mailboxes and the mail-server table."""

from django.core.management.base import BaseCommand, CommandError

from provisioning import drift
from provisioning.exceptions import ProvisioningError


class Command(BaseCommand):
    help = (
        "List the differences between the app's mailboxes and the mail-server table; with "
        "--fix, repair those the app owns. Exit status 1 while differences remain."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="repair what the app owns")

    def handle(self, *, fix, **options):
        try:
            findings = drift.drifts_find()
            repaired = drift.drifts_fix(findings) if fix else []
        except ProvisioningError as exc:
            raise CommandError(exc.message) from None
        for finding in findings:
            mark = (
                "réparé"
                if finding in repaired
                else ("à réparer (--fix)" if finding.fixable else "")
            )
            self.stdout.write(f"- {finding.message}" + (f" [{mark}]" if mark else ""))
        remaining = [f for f in findings if f not in repaired]
        if not findings:
            self.stdout.write(
                self.style.SUCCESS("La table du serveur mail correspond à l'application.")
            )
        elif remaining:
            raise CommandError(f"{len(remaining)} différence(s) restante(s).")
