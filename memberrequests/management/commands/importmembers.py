"""importmembers FILE [--dry-run] [--domain DOMAIN] [--no-wait]: the admin's CSV import,
from a shell, with its progress: rows checked, then the SMS sent, failed and waiting."""

import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from provisioning import services as provisioning

from ... import importprogress, imports
from ...models import MemberImport, MemberImportRow
from ...progress import Progress

RowStatus = MemberImportRow.Status


class Command(BaseCommand):
    help = (
        "Import members from a CSV (columns nom, adresse, email personnel, gsm): prints every "
        "row as à créer / erreur / existe déjà, then creates the valid ones, each with its own "
        "SMS job, and follows the jobs until they settle (--no-wait: only create). "
        "--dry-run only prints. Exits 1 when a row is in error or an SMS failed, 2 when the "
        "jobs did not settle in --timeout seconds."
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
        parser.add_argument(
            "--no-wait", action="store_true", help="create, and do not follow the SMS jobs"
        )
        parser.add_argument(
            "--timeout", type=float, default=300, help="seconds to follow them (default 300)"
        )

    def handle(self, *args, file, dry_run, domain, no_wait, timeout, **options):
        progress = Progress(
            lambda text: self.stderr.write(text, ending=""), terminal=self.stderr.isatty()
        )

        def checked(done, total):
            progress.show("Lignes vérifiées", done, total)

        try:
            data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"Impossible de lire {file} : {exc.strerror}.") from None
        try:
            domain = provisioning.domain_get(name=domain)
            if dry_run:
                _members_file, rows = imports.member_import_check(
                    data=data, domain=domain, progress=checked
                )
            else:
                name = "stdin" if file == "-" else Path(file).name
                member_import = imports.member_import_preview(
                    data=data, file_name=name, domain=domain, progress=checked
                )
                imports.member_import_confirm(
                    member_import=member_import, actor=Actor.command("importmembers")
                )
                rows = list(member_import.rows.select_related("domain").order_by("line"))
        except ValidationError as exc:
            raise CommandError("Rien n'a été créé : " + " ".join(exc.messages)) from None
        summary, row_errors = self.report(rows, dry_run=dry_run)
        if not dry_run and not no_wait:
            self.follow(member_import, progress, timeout=timeout)
        if row_errors:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    def follow(self, member_import: MemberImport, progress: Progress, *, timeout: float) -> None:
        """Show the SMS jobs of the created rows until none is waiting (the database is the
        record: a worker elsewhere moves them)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = importprogress.member_import_progress(member_import=member_import)
            detail = (
                f"{counts.sms_out} envoyés, {counts.sms_failed} en échec, "
                f"{counts.sms_waiting} en attente"
            )
            settled = counts.jobs - counts.sms_waiting
            progress.show("SMS", settled, counts.jobs, detail)
            if counts.jobs_settled:
                break
            if time.monotonic() >= deadline:
                raise CommandError(
                    f"{counts.sms_waiting} envoi(s) encore en attente après {timeout:g} s : "
                    "un worker Celery tourne-t-il ? Les adresses sont créées ; suivez-les dans "
                    "l'administration.",
                    returncode=2,
                )
            time.sleep(0.5)
        if counts.sms_failed:
            raise CommandError(
                f"{counts.sms_failed} SMS en échec : voyez la raison sur la page de chaque "
                "adresse (filtre « dernier SMS : échec de l'envoi »)."
            )

    def report(self, rows: list[MemberImportRow], *, dry_run: bool) -> tuple[str, bool]:
        """Print every row; (the summary, whether a row is in error)."""
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
        return summary, bool(counts[RowStatus.ERROR])
