"""importmembers FILE [--dry-run] [--domain DOMAIN]: the admin's CSV import, from a shell."""

import sys
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from provisioning import services as provisioning

from ... import imports
from ...models import MemberImportRow

RowStatus = MemberImportRow.Status


class Command(BaseCommand):
    help = (
        "Import members from a CSV (columns nom, adresse, email personnel, gsm): prints every "
        "row as à créer / erreur / existe déjà, then creates the valid ones, each with its own "
        "SMS job. --dry-run only prints. Exits 1 when a row is in error."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file, or - for standard input")
        parser.add_argument(
            "--dry-run", action="store_true", help="check and print, create nothing"
        )
        parser.add_argument(
            "--domain",
            default=settings.MAIL_DOMAIN,
            help=f"domain of addresses written without @ (default {settings.MAIL_DOMAIN})",
        )

    def handle(self, *args, file, dry_run, domain, **options):
        try:
            data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"Impossible de lire {file} : {exc.strerror}.") from None
        try:
            domain = provisioning.domain_get(name=domain)
            if dry_run:
                _members_file, rows = imports.member_import_check(data=data, domain=domain)
            else:
                name = "stdin" if file == "-" else Path(file).name
                member_import = imports.member_import_preview(
                    data=data, file_name=name, domain=domain
                )
                imports.member_import_confirm(
                    member_import=member_import, actor=Actor.command("importmembers")
                )
                rows = list(member_import.rows.select_related("domain").order_by("line"))
        except ValidationError as exc:
            raise CommandError("Rien n'a été créé : " + " ".join(exc.messages)) from None
        self.report(rows, dry_run=dry_run)

    def report(self, rows: list[MemberImportRow], *, dry_run: bool) -> None:
        counts = {status: 0 for status in RowStatus.values}
        for row in rows:
            counts[row.status] += 1
            text = f"ligne {row.line} : {row.get_status_display()} — {row.address}"
            if row.full_name:
                text += f" ({row.full_name})"
            if row.reason:
                text += f" — {row.reason}"
            style = self.style.ERROR if row.status == RowStatus.ERROR else str
            self.stdout.write(style(text))
        summary = (
            f"{len(rows)} lignes : {counts[RowStatus.CREATE]} à créer"
            if dry_run
            else f"{len(rows)} lignes : {counts[RowStatus.CREATED]} adresses créées"
        ) + f", {counts[RowStatus.EXISTS]} existent déjà, {counts[RowStatus.ERROR]} en erreur."
        if dry_run:
            summary += " (--dry-run : rien n'a été créé.)"
        if counts[RowStatus.ERROR]:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
