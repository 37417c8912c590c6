"""createalias SOURCE DEST [DEST ...]"""

from accounts.models import Alias
from provisioning import aliases, mailsync

from ..base import MailboxCommand


class Command(MailboxCommand):
    help = (
        "Create an alias (or replace its destinations): SOURCE on a managed domain, each DEST "
        "a mailbox or alias of ours or an outside address. Ends once the mail table has it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "source", help="the alias's full address, e.g. bureau@octopus-soignies.be"
        )
        parser.add_argument("destinations", nargs="+", metavar="DEST", help="full addresses")
        parser.add_argument(
            "--no-wait", action="store_true", help="only record it; the worker writes it"
        )

    def run(self, *, source, destinations, no_wait, **options):
        outcome = aliases.alias_save(source=source, destinations=destinations, actor=self.actor)
        for warning in outcome.warnings:
            self.stderr.write(warning)
        alias = outcome.alias
        self.write_now(
            mailsync.alias_sync,
            alias_id=alias.pk,
            no_wait=no_wait,
            why=lambda: Alias.objects.get(pk=alias.pk).sync_error,
        )
        listed = ", ".join(alias.destinations.values_list("address", flat=True))
        verb = "créé" if outcome.created else "modifié"
        state = "" if alias.active else " (désactivé)"
        self.stdout.write(self.style.SUCCESS(f"Alias {alias.address} {verb}{state} → {listed}."))
