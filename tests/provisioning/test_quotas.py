"""Quotas: sizes as people write them, a default per domain and an override per mailbox, the
worker's copy to the mail table, and the usage Dovecot writes to quota2."""

from django.core.exceptions import ValidationError
from django.db import connections

from accounts.models import Mailbox
from audit.models import AuditRecord
from provisioning import mailserver, mailsync, quotas, tasks
from provisioning.quotas import Usage, format_size, parse_size, size_for_input

from ..base import DOMAIN, TEST_ACTOR, OctopusTestCase, create_pierre, deliver

PIERRE = f"pierre@{DOMAIN}"
MB = 1024**2
GB = 1024**3


def quota2(address: str, used: int, messages: int = 1) -> None:
    """What Dovecot's quota dict writes when it counts a mailbox."""
    with connections[mailserver.ALIAS].cursor() as cursor:
        cursor.execute(
            "INSERT INTO quota2 (username, bytes, messages) VALUES (%s, %s, %s)",
            [address, used, messages],
        )


class SizeTests(OctopusTestCase):
    def test_it_reads_sizes_as_people_write_them(self):
        cases = {"0": 0, "500M": 500 * MB, "2G": 2 * GB, "2 go": 2 * GB, "1,5G": 1536 * MB,
                 "1M": MB, "512k": 512 * 1024, "2GiB": 2 * GB, "1048576": MB}  # fmt: skip
        for text, size in cases.items():
            with self.subTest(text=text):
                self.assertEqual(parse_size(text), size)

    def test_it_refuses_what_is_not_a_size_in_french(self):
        for text in ("", "deux gigas", "-1G", "2X", "5P"):
            with self.subTest(text=text), self.assertRaises(ValidationError) as caught:
                parse_size(text)
            self.assertIn("n'est pas une taille", caught.exception.messages[0])

    def test_it_writes_sizes_in_the_administrators_words(self):
        self.assertEqual(format_size(412 * MB), "412 Mo")
        self.assertEqual(format_size(2 * GB), "2 Go")
        self.assertEqual(format_size(1536 * MB), "1,5 Go")
        self.assertEqual(format_size(800), "800 octets")
        self.assertEqual([size_for_input(s) for s in (2 * GB, 500 * MB, 0, None, 1000)],
                         ["2G", "500M", "0", "", "1000"])  # fmt: skip

    def test_it_shows_usage_against_the_limit(self):
        usage = Usage(used=412 * MB, limit=2 * GB, messages=40)
        self.assertEqual((usage.text, usage.percent, usage.nearly_full),
                         ("412 Mo sur 2 Go", 20, False))  # fmt: skip
        full = Usage(used=1900 * MB, limit=2 * GB, messages=400)
        self.assertEqual((full.percent, full.nearly_full), (93, True))
        unlimited = Usage(used=412 * MB, limit=0, messages=40)
        self.assertEqual((unlimited.text, unlimited.percent), ("412 Mo (sans limite)", None))


class QuotaTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.mailbox = deliver(create_pierre()).mailbox

    def sync(self, mailbox: Mailbox) -> None:
        tasks.sync_mailbox_quota(mailbox.pk)

    def test_it_sets_a_mailbox_quota_and_the_worker_writes_it(self):
        with self.captureOnCommitCallbacks() as rung:
            mailbox = quotas.mailbox_set_quota(mailbox=PIERRE, quota=MB, actor=TEST_ACTOR)
        self.assertEqual(len(rung), 1)
        self.assertEqual((mailbox.quota, mailbox.effective_quota), (MB, MB))
        self.assertEqual(mailserver.user_row(PIERRE)["quota"], 0)  # the worker writes it
        self.sync(mailbox)
        self.assertEqual(mailserver.user_row(PIERRE)["quota"], MB)
        mailbox.refresh_from_db()
        self.assertEqual(mailbox.quota_synced_version, mailbox.quota_version)
        record = AuditRecord.objects.get(action="quota_set")
        self.assertEqual((record.target, record.detail), (PIERRE, "sans limite → 1 Mo"))

    def test_it_follows_the_domain_default_until_the_mailbox_has_its_own(self):
        count = quotas.domain_set_default_quota(domain=self.domain, quota=2 * GB, actor=TEST_ACTOR)
        self.assertEqual(count, 1)
        self.sync(self.mailbox)
        self.assertEqual(mailserver.user_row(PIERRE)["quota"], 2 * GB)
        quotas.mailbox_set_quota(mailbox=self.mailbox, quota=0, actor=TEST_ACTOR)
        self.sync(self.mailbox)
        self.assertEqual(mailserver.user_row(PIERRE)["quota"], 0)
        self.assertEqual(
            quotas.domain_set_default_quota(domain=self.domain, quota=GB, actor=TEST_ACTOR), 0
        )
        mailbox = quotas.mailbox_set_quota(mailbox=self.mailbox, quota=None, actor=TEST_ACTOR)
        self.assertEqual(mailbox.effective_quota, GB)
        self.sync(mailbox)
        self.assertEqual(mailserver.user_row(PIERRE)["quota"], GB)
        record = AuditRecord.objects.filter(action="quota_set").first()  # newest first
        self.assertEqual(record.detail, "sans limite → 1 Go (défaut du domaine)")

    def test_it_gives_a_new_mailbox_its_quota_with_its_first_password(self):
        quotas.domain_set_default_quota(domain=self.domain, quota=500 * MB, actor=TEST_ACTOR)
        job = create_pierre(local_part="marie", personal_email="marie@example.org")
        deliver(job)
        self.assertEqual(mailserver.user_row(f"marie@{DOMAIN}")["quota"], 500 * MB)

    def test_it_waits_for_the_row_of_a_mailbox_whose_first_password_is_on_its_way(self):
        job = create_pierre(local_part="marie", personal_email="marie@example.org")
        quotas.mailbox_set_quota(mailbox=job.mailbox, quota=MB, actor=TEST_ACTOR)
        self.assertFalse(mailsync.mailbox_quota_sync(mailbox_id=job.mailbox_id))
        deliver(job)
        self.assertTrue(mailsync.mailbox_quota_sync(mailbox_id=job.mailbox_id))
        self.assertEqual(mailserver.user_row(f"marie@{DOMAIN}")["quota"], MB)

    def test_it_refuses_an_unknown_mailbox_in_french_and_records_the_refusal(self):
        with self.assertRaisesMessage(ValidationError, f"L'adresse paul@{DOMAIN} n'existe pas"):
            quotas.mailbox_set_quota(mailbox=f"paul@{DOMAIN}", quota=MB, actor=TEST_ACTOR)
        self.assertEqual(AuditRecord.objects.get(action="quota_set").outcome, "refused")

    def test_it_reads_the_usage_dovecot_counted(self):
        quotas.mailbox_set_quota(mailbox=self.mailbox, quota=2 * GB, actor=TEST_ACTOR)
        self.sync(self.mailbox)
        self.assertEqual(quotas.usage_of([PIERRE]), {})  # not counted yet: nothing to show
        quota2(PIERRE, 412 * MB, 40)
        [usage] = quotas.usage_of([PIERRE, f"paul@{DOMAIN}"]).values()
        self.assertEqual(usage, Usage(used=412 * MB, limit=2 * GB, messages=40))
        self.assertEqual(quotas.nearly_full_addresses(), [])
        quota2(f"paul@{DOMAIN}", 10)  # no such user: never listed
        with connections[mailserver.ALIAS].cursor() as cursor:
            cursor.execute("UPDATE quota2 SET bytes = %s WHERE username = %s", [1900 * MB, PIERRE])
        self.assertEqual(quotas.nearly_full_addresses(), [PIERRE])

    def test_it_shows_no_usage_when_the_mail_database_has_no_quota2_table(self):
        with connections[mailserver.ALIAS].cursor() as cursor:
            cursor.execute("DROP TABLE quota2")
        self.assertEqual(quotas.usage_of([PIERRE]), {})
        self.assertEqual(quotas.nearly_full_addresses(), [])
        self.assertEqual(mailserver.user_row(PIERRE)["email"], PIERRE)  # the rest still works
