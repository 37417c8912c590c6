"""The administrator's day in a real browser: Playwright driving Debian's Chromium against
the app served on loopback, with a real Celery worker on Redis and the Twilio double.

Screenshots go to artifacts/screenshots/ (kept by CI); regenerate them with
`.venv/bin/pytest tests/browser -p no:cacheprovider`.
"""

import base64
import os
import re
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.staticfiles.testing import StaticLiveServerTestCase
from django.db import connections
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Alias, Mailbox
from audit.services import Actor
from provisioning import aliases, quotas
from provisioning.models import ProvisioningJob

from ..base import ADMIN_PASSWORD, create_pierre, the_domain, totp_token
from ..celeryworker import broker, worker_thread
from ..fakes.twilio_api import FakeTwilio
from ..services import require_binary, require_redis, unavailable

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
REDIS_URL = os.environ.get("TEST_BROWSER_REDIS_URL", "redis://127.0.0.1:6379/9")
WAIT = 20_000  # ms; a job takes milliseconds, the margin is for a loaded CI machine
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


# A live server over plain HTTP: production's secure-cookie and HTTPS settings off.
PLAIN_HTTP = {"SECURE_SSL_REDIRECT": False, "SESSION_COOKIE_SECURE": False,
              "CSRF_COOKIE_SECURE": False}  # fmt: skip


def require_chromium() -> None:
    """Before a browser test class sets up: Debian's Chromium and Playwright are here."""
    require_binary(CHROMIUM, "chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("playwright is not installed (make install)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls made here
    # between browser steps are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


def open_chromium(cls) -> None:
    """Debian's Chromium through Playwright (never a downloaded browser), for one test
    class, closed after it."""
    from playwright.sync_api import sync_playwright

    cls.playwright = cls.enterClassContext(sync_playwright())
    cls.browser = cls.playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    cls.addClassCleanup(cls.browser.close)
    SHOTS.mkdir(parents=True, exist_ok=True)


class BrowserTestCase(StaticLiveServerTestCase):
    databases = {"default", "mailserver"}

    @classmethod
    def setUpClass(cls):
        require_chromium()
        require_redis()
        super().setUpClass()
        cls.twilio = FakeTwilio()
        cls.twilio.start()
        cls.addClassCleanup(cls.twilio.stop)
        cls.enterClassContext(broker(REDIS_URL))
        cls.enterClassContext(worker_thread())
        open_chromium(cls)

    def setUp(self):
        self.enterContext(
            self.twilio.settings(
                PUBLIC_BASE_URL=self.live_server_url,
                CELERY_BROKER_URL=REDIS_URL,
                **PLAIN_HTTP,
            )
        )
        self.twilio.reset()
        the_domain()
        context = self.browser.new_context(locale="fr-BE", viewport={"width": 1280, "height": 900})
        self.addCleanup(context.close)
        self.page = context.new_page()
        self.page.set_default_timeout(WAIT)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def url(self, path: str) -> str:
        return f"{self.live_server_url}{path}"

    def password_step(self, username: str) -> None:
        self.page.goto(self.url("/admin/"))
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", ADMIN_PASSWORD)
        self.page.click("#login-form input[type=submit]")


class FirstLoginTests(BrowserTestCase):
    def test_it_enrols_a_first_device_from_the_qr_page(self):
        get_user_model().objects.create_superuser("marc", "marc@example.org", ADMIN_PASSWORD)
        self.password_step("marc")
        self.page.wait_for_selector("code.otp-secret")
        self.assertIsNotNone(self.page.query_selector(".otp-qr svg"))
        self.shot("01-enrolment")
        secret = self.page.inner_text("code.otp-secret").replace(" ", "")
        key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        self.page.fill("#id_otp_token", f"{totp(key):06d}")
        self.page.click("#otp-enrol-form input[type=submit]")
        self.page.wait_for_selector(".otp-backup-codes")
        self.assertEqual(len(self.page.query_selector_all(".otp-backup-codes li")), 10)
        self.shot("02-backup-codes")
        self.page.click("text=J'ai noté mes codes : continuer")
        self.page.wait_for_selector("#site-name")
        self.assertIn("Administration des adresses mail", self.page.content())


class LoggedInTestCase(BrowserTestCase):
    """Claire, logged in with her password and her phone's code."""

    def setUp(self):
        super().setUp()
        user = get_user_model().objects.create_superuser(
            "claire", "claire@example.org", ADMIN_PASSWORD
        )
        self.device = TOTPDevice.objects.create(user=user, name="téléphone", confirmed=True)
        self.password_step("claire")
        self.page.wait_for_selector("#id_otp_token")
        self.page.select_option("#id_otp_device", self.device.persistent_id)
        self.page.fill("#id_otp_token", totp_token(self.device))
        self.shot("03-login-code-step")
        self.page.click("#login-form input[type=submit]")
        self.page.wait_for_selector("#site-name")


class AdministratorDayTests(LoggedInTestCase):
    def create_pierre(self) -> ProvisioningJob:
        self.page.goto(self.url("/admin/accounts/mailbox/add/"))
        self.page.fill("#id_full_name", "Pierre Dupont")
        self.page.wait_for_function("document.getElementById('id_local_part').value !== ''")
        self.assertEqual(self.page.input_value("#id_local_part"), "pierre.dupont")
        self.page.wait_for_selector("#local-part-check:has-text('est libre')")
        self.page.fill("#id_personal_email", "pierre@example.org")
        self.page.fill("#id_phone", "02 512 34 56")  # a landline: refused
        self.page.click("input[name=_save]")
        self.page.wait_for_selector(".errorlist")
        self.assertIn("numéro de GSM", self.page.inner_text(".field-phone .errorlist"))
        self.shot("04-creation-french-error")
        self.page.fill("#id_phone", "0470 12 34 56")
        self.page.click("input[name=_save]")
        self.page.wait_for_selector(".messagelist")
        return ProvisioningJob.objects.select_related("mailbox").get(
            mailbox__local_part="pierre.dupont"
        )

    def open_mailbox(self, job: ProvisioningJob) -> None:
        self.page.goto(self.url(f"/admin/accounts/mailbox/{job.mailbox_id}/change/"))

    def test_it_creates_a_mailbox_and_follows_its_sms_until_delivered(self):
        job = self.create_pierre()
        self.shot("05-list-after-creation")
        self.open_mailbox(job)
        self.page.wait_for_selector("#sms-status:has-text('SMS envoyé le')")
        job.refresh_from_db()
        self.assertEqual(self.twilio.post_status(job.sms_message_id, "delivered"), 204)
        # No reload: the page follows the status by itself (mailbox_status.js).
        self.page.wait_for_selector("#sms-status:has-text('SMS remis le')")
        self.shot("06-mailbox-sms-delivered")

    def test_it_resets_disables_and_enables_then_shows_the_audit_trail(self):
        job = self.create_pierre()
        self.open_mailbox(job)
        self.page.wait_for_selector("#sms-status:has-text('SMS envoyé le')")
        self.page.click("text=Renvoyer un nouveau mot de passe par SMS")
        self.page.wait_for_selector(".messagelist :text('nouveau mot de passe en cours')")
        self.page.wait_for_function(
            "() => document.querySelectorAll('#jobs-group tbody tr.has_original').length === 2"
            " || document.body.innerText.includes('nouveau mot de passe')"
        )
        self.page.wait_for_selector("#sms-status:has-text('SMS envoyé le')")
        self.assertEqual(job.mailbox.jobs.filter(kind="reset").count(), 1)
        self.shot("07-mailbox-after-reset")

        for action, status in (("disable", "désactivée"), ("enable", "active")):
            self.page.goto(self.url("/admin/accounts/mailbox/"))
            self.page.check(f"input[name=_selected_action][value='{job.mailbox_id}']")
            self.page.select_option("select[name=action]", action)
            self.page.click("button[name=index]")
            self.page.wait_for_selector(".messagelist")
            self.assertIn(
                status, self.page.inner_text(f"#result_list tr:has-text('{job.mailbox.address}')")
            )
        self.shot("08-list-enabled-again")

        self.page.goto(self.url("/admin/audit/auditrecord/"))
        table = self.page.inner_text("#result_list")
        for act in ("pierre.dupont@octopus-soignies.be",):
            self.assertIn(act, table)
        self.assertGreaterEqual(len(re.findall("pierre.dupont@octopus-soignies.be", table)), 4)
        self.shot("09-audit-trail")


class AliasesAndQuotasTests(LoggedInTestCase):
    """« Alias et listes », and the space each mailbox uses (screenshots for the guide)."""

    def setUp(self):
        super().setUp()
        self.mailboxes = []
        for local_part, name in (("pierre", "Pierre Dupont"), ("marie", "Marie Martin")):
            job = create_pierre(local_part=local_part, full_name=name,
                                personal_email=f"{local_part}@example.org")  # fmt: skip
            self.mailboxes.append(job.mailbox)
        for mailbox in self.mailboxes:  # the real worker sends their passwords
            self.wait_until(lambda m=mailbox: Mailbox.objects.get(pk=m.pk).status == "active")

    def wait_until(self, condition) -> None:
        for _attempt in range(int(WAIT / 100)):
            if condition():
                return
            self.page.wait_for_timeout(100)
        self.fail("the worker did not finish in time")

    def test_it_creates_an_alias_that_the_worker_writes(self):
        self.page.goto(self.url("/admin/accounts/alias/add/"))
        self.page.fill("#id_local_part", "bureau")
        self.page.select_option("#id_domain", label="octopus-soignies.be")
        self.page.fill("#id_destinations", "pierre@octopus-soignies.be\npaul@octopus-soignies.be")
        self.page.click("input[name=_save]")
        self.page.wait_for_selector(".errorlist")
        self.assertIn("n'existe pas", self.page.inner_text(".field-destinations .errorlist"))
        self.shot("10-alias-french-error")
        self.page.fill(
            "#id_destinations",
            "pierre@octopus-soignies.be\nmarie@octopus-soignies.be\ntresorier@example.org",
        )
        self.page.click("input[name=_save]")
        self.page.wait_for_selector(".messagelist .warning")
        self.assertIn("SRS", self.page.inner_text(".messagelist"))
        self.wait_until(lambda: Alias.objects.get(local_part="bureau").synced)
        self.page.goto(self.url("/admin/accounts/alias/"))
        self.page.wait_for_selector("#result_list :text('à jour')")
        self.shot("11-alias-list")

    def test_it_shows_the_space_used_and_the_aliases_reaching_a_mailbox(self):
        pierre, marie = self.mailboxes
        actor = Actor(label="tests")
        for mailbox in self.mailboxes:
            quotas.mailbox_set_quota(mailbox=mailbox, quota=2 * 1024**3, actor=actor)
        self.use(pierre, 412 * 1024**2)
        self.use(marie, 1900 * 1024**2)
        aliases.alias_save(source="bureau@octopus-soignies.be",
                           destinations=[pierre.address, marie.address], actor=actor)  # fmt: skip
        self.page.goto(self.url("/admin/accounts/mailbox/"))
        self.page.wait_for_selector("#result_list :text('412 Mo sur 2 Go')")
        self.shot("12-mailbox-list-quota")
        self.page.goto(self.url("/admin/accounts/mailbox/?espace=presque_plein"))
        self.page.wait_for_selector("#result_list :text('1,9 Go sur 2 Go')")
        self.assertNotIn(pierre.address, self.page.inner_text("#result_list"))
        self.page.goto(self.url(f"/admin/accounts/mailbox/{pierre.pk}/change/"))
        self.page.wait_for_selector(".field-aliases_display :text('bureau@octopus-soignies.be')")
        self.shot("13-mailbox-quota-and-aliases")

    def use(self, mailbox: Mailbox, size: int) -> None:
        """What Dovecot's quota dict writes once it counted the mailbox."""
        with connections["mailserver"].cursor() as cursor:
            cursor.execute("DELETE FROM quota2 WHERE username = %s", [mailbox.address])
            cursor.execute(
                "INSERT INTO quota2 (username, bytes, messages) VALUES (%s, %s, 10)",
                [mailbox.address, size],
            )
        self.addCleanup(self.forget_usage, mailbox.address)

    @staticmethod
    def forget_usage(address: str) -> None:
        with connections["mailserver"].cursor() as cursor:
            cursor.execute("DELETE FROM quota2 WHERE username = %s", [address])
