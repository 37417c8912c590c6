"""The big lists read the newest job by the mailbox's `last_job`, search each table by its
trigram indexes, and keep a constant number of queries (bench/admin_scale.py times them)."""

import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Mailbox, Member
from memberrequests.models import MemberRequest
from provisioning import services
from provisioning.models import ProvisioningJob

from ..base import (
    TEST_ACTOR,
    OctopusTestCase,
    create_pierre,
    deliver,
    login_with_otp,
    make_verified_admin,
)
from ..services import unavailable

MAILBOXES = "/admin/accounts/mailbox/"
JOBS = "/admin/provisioning/provisioningjob/"
PAGES = [
    MAILBOXES, f"{MAILBOXES}?q=mart", f"{MAILBOXES}?sms=not_delivered", f"{MAILBOXES}?sms=failed",
    f"{MAILBOXES}?sms=in_flight", JOBS, f"{JOBS}?q=mart", "/admin/accounts/member/?q=mart",
    "/admin/memberrequests/memberrequest/?q=mart", "/admin/",
]  # fmt: skip


def mailbox_with_history(n: int, *, last_sms: str) -> Mailbox:
    """A delivered creation, then a reset whose SMS ended as `last_sms`."""
    job = deliver(
        create_pierre(
            local_part=f"paul{n}", full_name=f"Paul Martin {n}", personal_email=f"p{n}@example.org"
        )
    )
    ProvisioningJob.objects.filter(pk=job.pk).update(sms_status="delivered")
    reset = services.mailbox_password_reset(mailbox=job.mailbox, actor=TEST_ACTOR).job
    deliver(reset)
    ProvisioningJob.objects.filter(pk=reset.pk).update(sms_status=last_sms)
    return Mailbox.objects.get(pk=job.mailbox_id)


class AdminAtScaleTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        user, static, tokens = make_verified_admin()
        login_with_otp(self.client, user, static, tokens[0])

    def shown(self, url: str) -> list[str]:
        response = self.client.get(url)
        self.assertEqual(response.status_code, 200)
        return sorted(str(obj) for obj in response.context["cl"].result_list)

    def queries(self, url: str) -> int:
        self.client.get(url)  # a first visit fills caches (content types) once per process
        with CaptureQueriesContext(connection) as captured:
            self.assertEqual(self.client.get(url).status_code, 200, url)
        return len(captured)

    def test_it_keeps_the_big_pages_at_a_constant_number_of_queries(self):
        mailbox_with_history(0, last_sms="undelivered")
        pages = [*PAGES, f"{MAILBOXES}{Mailbox.objects.get().pk}/change/"]
        few = {url: self.queries(url) for url in pages}
        for n in range(1, 7):
            mailbox_with_history(n, last_sms=["delivered", "undelivered", "failed"][n % 3])
        create_pierre()  # one waiting for its first SMS
        for url in pages:
            with self.subTest(url=url):
                self.assertEqual(self.queries(url), few[url])

    def test_it_filters_on_the_newest_delivery_only(self):
        mailbox_with_history(1, last_sms="undelivered")
        recovered = mailbox_with_history(2, last_sms="delivered")
        # Its first SMS was not delivered; the newest one was: nothing to do any more.
        ProvisioningJob.objects.filter(mailbox=recovered, kind="create").update(
            sms_status="undelivered"
        )
        self.assertEqual(
            self.shown(f"{MAILBOXES}?sms=not_delivered"), ["paul1@octopus-soignies.be"]
        )
        self.assertEqual(self.shown(f"{MAILBOXES}?sms=delivered"), ["paul2@octopus-soignies.be"])
        dashboard = self.client.get("/admin/").context["dashboard"]
        counts = {str(row["label"]): row["count"] for row in dashboard}
        self.assertEqual(counts["SMS non remis"], 1)

    def test_it_finds_a_mailbox_by_part_of_its_address_name_or_email(self):
        mailbox_with_history(1, last_sms="delivered")
        create_pierre()
        paul, pierre = "paul1@octopus-soignies.be", "pierre@octopus-soignies.be"
        for term, found in [("MART", [paul]), ("dupo", [pierre]), ("ierr", [pierre]),
                            ("p1@example", [paul]), ("example.org", [paul, pierre]),
                            ("paul mart", [paul]), ('"Paul Martin"', [paul]),
                            ("paul dupont", []), ("zz", [])]:  # fmt: skip
            with self.subTest(term=term):
                self.assertEqual(self.shown(f"{MAILBOXES}?q={term}"), found)

    def test_it_finds_a_member_by_part_of_a_name_an_email_or_a_mailbox(self):
        mailbox_with_history(1, last_sms="delivered")
        services.mailbox_password_reset(mailbox="paul1@octopus-soignies.be", actor=TEST_ACTOR)
        create_pierre()
        members = "/admin/accounts/member/"
        for term, found in [("aul1", ["Paul Martin 1"]), ("dupo", ["Pierre Dupont"]),
                            ("example.org", ["Paul Martin 1", "Pierre Dupont"]),
                            ("pierre dupont", ["Pierre Dupont"]), ("paul dupont", [])]:  # fmt: skip
            with self.subTest(term=term):
                self.assertEqual(self.shown(f"{members}?q={term}"), found)

    def test_it_finds_jobs_by_part_of_the_members_name_or_address(self):
        mailbox_with_history(1, last_sms="delivered")
        create_pierre()
        self.assertEqual(len(self.shown(f"{JOBS}?q=martin")), 2)  # the creation, the reset
        self.assertEqual(len(self.shown(f"{JOBS}?q=ierr")), 1)
        self.assertEqual(self.shown(f"{JOBS}?q=nobody"), [])


class TrigramIndexTests(OctopusTestCase):
    """On PostgreSQL the searched columns have a GIN trigram index on `UPPER(column)`, the
    expression Django's `icontains` asks; with sequential and plain index scans made dear
    (a GIN index is read by a bitmap scan; a b-tree in the list's order could otherwise be
    walked whole, filtering each row, depending on the tables' statistics), the plan uses it."""

    def plan(self, queryset) -> str:
        with connection.cursor() as cursor:  # this test's transaction only
            for scan in ("seqscan", "indexscan", "indexonlyscan"):
                cursor.execute(f"SET LOCAL enable_{scan} = off")
        return queryset.explain()

    def test_it_serves_icontains_on_every_searched_column_from_an_index(self):
        if connection.vendor != "postgresql":
            unavailable("the trigram indexes exist on PostgreSQL only")
        searches = {
            "accounts_mailbox_local_part_trgm": Mailbox.objects.filter(local_part__icontains="ier"),
            "accounts_member_full_name_trgm": Member.objects.filter(full_name__icontains="mart"),
            "accounts_member_personal_email_trgm": Member.objects.filter(
                personal_email__icontains="example"
            ),
            "memberrequests_memberrequest_full_name_trgm": MemberRequest.objects.filter(
                full_name__icontains="mart"
            ),
            "memberrequests_memberrequest_local_part_trgm": MemberRequest.objects.filter(
                local_part__icontains="paul"
            ),
            "provisioning_provisioningjob_sms_message_id_trgm": ProvisioningJob.objects.filter(
                sms_message_id__icontains="SM12"
            ),
        }
        for index, queryset in searches.items():
            with self.subTest(index=index):
                self.assertIn(index, self.plan(queryset))


class SqliteMigrationTests(OctopusTestCase):
    """`make run` migrates SQLite files: pg_trgm and its indexes are skipped there; the
    rest (`last_job`, its data migration, the list's index) applies as on PostgreSQL."""

    def test_it_migrates_a_fresh_sqlite_database(self):
        with tempfile.TemporaryDirectory() as folder:
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "octopus_mail.settings",
                "DJANGO_DEBUG": "true",  # as `make run`: its console SMS and email pass
                "DATABASE_URL": f"sqlite:///{folder}/app.sqlite3",
                "MAILSERVER_DATABASE_URL": f"sqlite:///{folder}/mail.sqlite3",
            }
            done = subprocess.run(
                [sys.executable, "manage.py", "migrate", "--no-input"],
                cwd=Path(settings.BASE_DIR), env=env, capture_output=True, text=True,
                timeout=300, check=False,
            )  # fmt: skip
            self.assertEqual(done.returncode, 0, done.stderr[-3000:])
            with sqlite3.connect(f"{folder}/app.sqlite3") as database:
                columns = {
                    row[1] for row in database.execute("PRAGMA table_info(accounts_mailbox)")
                }
                indexes = {
                    row[1] for row in database.execute("PRAGMA index_list(accounts_mailbox)")
                }
        self.assertIn("last_job_id", columns)
        self.assertIn("mailbox_admin_order", indexes)
        self.assertNotIn("accounts_mailbox_local_part_trgm", indexes)
