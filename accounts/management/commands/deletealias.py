"""deletealias SOURCE"""

from provisioning import aliases, mailsync

from ..base import MailboxCommand


class Command(MailboxCommand):
    help = "Delete an alias: its mail is refused once the mail table has forgotten it."

    def add_arguments(self, parser):
        parser.add_argument("source", help="the alias's full address")
        parser.add_argument(
            "--no-wait", action="store_true", help="only record it; the worker removes it"
        )

    def run(self, *, source, no_wait, **options):
        alias = aliases.alias_delete(alias=source, actor=self.actor)
        self.write_now(mailsync.alias_sync, alias_id=alias.pk, no_wait=no_wait)
        self.stdout.write(self.style.SUCCESS(f"Alias {alias.address} supprimé."))
