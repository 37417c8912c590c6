"""Prints how long the CSV import's preview takes for files of N members, step by step:
reading the file, checking every row (mailbox_validate), storing the rows, rendering the
first page of the admin's preview; with --confirm, creating the mailboxes too.

Everything runs in a transaction rolled back at the end: the database is left as it was
(migrated, with the domain of MAIL_DOMAIN). Run against the database the app uses:
DATABASE_URL=postgresql://... .venv/bin/python bench/import_preview.py --rows 1000 10000
The machine's load average is printed too: other processes slow every figure down.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "octopus_mail.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib import admin  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from audit.services import Actor  # noqa: E402
from memberrequests import csvfile, imports  # noqa: E402
from memberrequests.models import MemberImport  # noqa: E402
from provisioning.services import domain_get  # noqa: E402

FIRST = ["Pierre", "Marie", "Jean", "Lucie", "Éric", "Anne", "Paul", "Zoé", "Luc", "Inès"]
LAST = ["Dupont", "Lambert", "Peeters", "Janssens", "Maes", "Claes", "Goossens", "Wouters"]


def members_csv(count: int) -> bytes:
    """Semicolons and Windows-1252, as a spreadsheet saves it; one row in 100 is wrong."""
    lines = ["Nom;Adresse;E-mail personnel;GSM"]
    for n in range(1, count + 1):
        phone = "0470 12" if n % 100 == 0 else f"+32 470 {n // 10000 % 100:02d} {n % 10000:04d}"
        name = f"{FIRST[n % 10]} {LAST[n // 10 % 8]} {n}"
        lines.append(f"{name};bench{n};bench{n}@example.org;{phone}")
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


class Rollback(Exception):
    pass


def timed(label: str, call):
    """Wall time, and this process's CPU time (the rest is the database and other processes)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = call()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"  {label:44} {wall:7.2f} s  (CPU here {cpu:6.2f} s)")
    return result


def bench(count: int, *, confirm: bool) -> None:
    data = members_csv(count)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{count} rows ({len(data) // 1024} KiB), {connection.vendor}, load average {load}:")
    try:
        with transaction.atomic():
            domain = domain_get(name=settings.MAIL_DOMAIN)
            timed("of which: read the file (csv, tablib)", lambda: csvfile.read_members_csv(data))
            timed(
                "of which: check the rows (mailbox_validate)",
                lambda: imports.member_import_check(data=data, domain=domain),
            )
            start = time.perf_counter()
            member_import = timed(
                "upload: read, check, store the rows",
                lambda: imports.member_import_preview(data=data, file_name="b.csv", domain=domain),
            )
            timed("render the preview's first page", lambda: render_preview(member_import))
            print(f"  => upload to first page: {time.perf_counter() - start:.2f} s")
            if confirm:
                counts = timed(
                    "confirm: create the mailboxes",
                    lambda: imports.member_import_confirm(
                        member_import=member_import, actor=Actor.system("bench")
                    ),
                )
                print(f"  created {counts['created']}, errors {counts['error']}")
            raise Rollback
    except Rollback:
        pass


def render_preview(member_import: MemberImport) -> int:
    user = get_user_model()(username="bench", is_staff=True, is_superuser=True, is_active=True)
    user.is_verified = lambda: True  # what django-otp's middleware sets after the second factor
    request = RequestFactory().get("/")
    request.user = user
    model_admin = admin.site._registry[MemberImport]
    response = model_admin.change_view(request, str(member_import.pk))
    return len(response.render().content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--confirm", action="store_true", help="also time the creation")
    options = parser.parse_args()
    for count in options.rows:
        bench(count, confirm=options.confirm)


if __name__ == "__main__":
    main()
