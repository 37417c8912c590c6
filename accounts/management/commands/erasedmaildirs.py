"""erasedmaildirs --since DATE: the maildirs of the mailboxes erased since then."""

import re
from datetime import datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from provisioning import erasure

DAYS_AGO = re.compile(r"^(\d{1,4})d$")


def parse_since(text: str) -> datetime:
    """`2026-12-01` (from its midnight, local time), an ISO date and time, `today`,
    `yesterday`, or `7d` (seven days ago, from midnight)."""
    value = (text or "").strip().lower()
    today = timezone.localdate()
    days = {"today": 0, "aujourdhui": 0, "yesterday": 1, "hier": 1}.get(value)
    if days is None and (match := DAYS_AGO.match(value)):
        days = int(match.group(1))
    if days is not None:
        return _midnight(today - timedelta(days=days))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"--since « {text} » : écrivez une date (2026-12-01), today, yesterday ou 7d."
        ) from None
    if len(value) == 10:
        return _midnight(moment.date())
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _midnight(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class Command(BaseCommand):
    help = (
        "Print one maildir a line (DOMAIN/USER/, below the mail root) of each mailbox erased "
        "since DATE, for the mail host's job that removes them (mailserver_config prints it)."
    )
    # Run by the mail host's cron: a list to print, whatever the rest of the configuration.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", required=True, help="2026-12-01, an ISO date and time, today, yesterday, 7d"
        )

    def handle(self, *, since, **options):
        for maildir in erasure.erased_maildirs(since=parse_since(since)):
            self.stdout.write(maildir)
