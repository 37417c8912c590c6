"""A CSV import confirmed in Debian's Chromium (Playwright), whose page follows the
provisioning by itself: the test plays the worker (its task functions, called one by one)
and Twilio (the HTTP double, its signed status callbacks to the live server), and the
counters move to the final state without a reload, then the page stops asking.

No real worker here: the tests' in-memory broker keeps the doorbells, so each step happens
when the test says, and the page is seen in each state. Screenshots: artifacts/screenshots/.
"""

from django.contrib.auth import get_user_model
from django.contrib.staticfiles.testing import StaticLiveServerTestCase
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from memberrequests.models import MemberImport
from provisioning import tasks
from provisioning.models import ProvisioningJob

from ..base import ADMIN_PASSWORD, the_domain, totp_token
from ..fakes.twilio_api import FakeTwilio
from ..memberrequests.helpers import members_csv
from .test_admin_in_chromium import PLAIN_HTTP, SHOTS, WAIT, open_chromium, require_chromium

IMPORTS = "/admin/memberrequests/memberimport/"
COUNTERS = "#import-progress-counters"
REFUSED = "+32470000003"  # membre3's number: Twilio refuses it (21211)


# The test plays the worker job by job, to see each state: one job a doorbell.
@override_settings(PROVISIONING_BATCH_SIZE=1)
class ImportProgressInChromiumTests(StaticLiveServerTestCase):
    databases = {"default", "mailserver"}

    @classmethod
    def setUpClass(cls):
        require_chromium()
        super().setUpClass()
        cls.twilio = FakeTwilio()
        cls.twilio.start()
        cls.addClassCleanup(cls.twilio.stop)
        open_chromium(cls)

    def setUp(self):
        self.enterContext(
            self.twilio.settings(
                PUBLIC_BASE_URL=self.live_server_url,
                **PLAIN_HTTP,
            )
        )
        self.twilio.reset()
        the_domain()
        self.context = self.browser.new_context(
            locale="fr-BE", viewport={"width": 1280, "height": 900}
        )
        self.addCleanup(self.context.close)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT)
        self.log_in()

    def log_in(self) -> None:
        user = get_user_model().objects.create_superuser(
            "claire", "claire@example.org", ADMIN_PASSWORD
        )
        device = TOTPDevice.objects.create(user=user, name="téléphone", confirmed=True)
        self.page.goto(f"{self.live_server_url}/admin/")
        self.page.fill("#id_username", "claire")
        self.page.fill("#id_password", ADMIN_PASSWORD)
        self.page.click("#login-form input[type=submit]")
        self.page.select_option("#id_otp_device", device.persistent_id)
        self.page.fill("#id_otp_token", totp_token(device))
        self.page.click("#login-form input[type=submit]")
        self.page.wait_for_selector("#site-name")

    def upload_and_confirm(self, count: int) -> MemberImport:
        self.page.goto(f"{self.live_server_url}{IMPORTS}add/")
        self.page.set_input_files(
            "#id_file",
            files=[{"name": "membres.csv", "mimeType": "text/csv",
                    "buffer": members_csv(count).encode()}],
        )  # fmt: skip
        self.page.click("input[type=submit]")
        self.page.click(f"input[value='Confirmer : créer les {count} adresses']")
        self.page.wait_for_selector("#import-progress")
        return MemberImport.objects.get()

    def see(self, text: str, where: str = COUNTERS) -> None:
        self.page.wait_for_selector(f"{where} :text('{text}')")

    def job(self, n: int) -> ProvisioningJob:
        return ProvisioningJob.objects.get(mailbox__local_part=f"membre{n}")

    def test_it_follows_an_import_until_every_sms_and_email_settled(self):
        self.twilio.refuse_numbers([REFUSED])
        member_import = self.upload_and_confirm(3)
        status_url = f"{IMPORTS}{member_import.pk}/statut/"
        asked = []
        self.page.on("request", lambda r: asked.append(r.url) if status_url in r.url else None)
        summary = "#import-progress-summary"
        self.assertEqual(self.page.get_attribute(summary, "aria-live"), "polite")
        self.assertEqual(
            self.page.inner_text(summary), "Envoi en cours : 0 SMS sur 3 traités, 3 en attente."
        )
        self.assertIn("3 SMS en attente", self.page.inner_text(COUNTERS))
        self.shot("import-progress-1-confirmed")

        tasks.deliver_password(self.job(1).pk)  # the worker, one job at a time
        self.see("1 SMS envoyé, accusé de réception attendu")
        self.see("2 SMS en attente")
        tasks.deliver_password(self.job(2).pk)
        tasks.deliver_password(self.job(3).pk)  # refused by Twilio: a permanent failure
        self.see("1 SMS en échec")
        self.see("membre3@octopus-soignies.be", "#import-failures")
        self.assertIn("Ligne 4 : Lucie Dupont 3", self.page.inner_text("#import-failures"))
        self.shot("import-progress-2-sent")

        for n in (1, 2):
            tasks.send_job_email(self.job(n).pk)
            self.assertEqual(self.twilio.post_status(self.job(n).sms_message_id, "delivered"), 204)
        self.see("2 SMS remis")
        self.see("2 emails envoyés")
        self.page.wait_for_selector("#import-progress[data-settled=yes]")
        self.assertEqual(
            self.page.inner_text(summary), "Terminé : 2 SMS remis, 1 en échec ; 2 emails envoyés."
        )
        width = self.page.eval_on_selector("[data-part=sms_delivered]", "e => e.style.width")
        self.assertEqual(width, "66.67%")
        self.shot("import-progress-3-done")

        settled_after = len(asked)
        self.page.wait_for_timeout(5000)  # 2 more periods: the page asks no more
        self.assertEqual(len(asked), settled_after)
        self.assertGreaterEqual(settled_after, 3)

        # Without JavaScript, the page shows the same counts as they stand at load time.
        plain = self.browser.new_context(java_script_enabled=False, locale="fr-BE")
        self.addCleanup(plain.close)
        plain.add_cookies(self.context.cookies())
        page = plain.new_page()
        page.goto(f"{self.live_server_url}{IMPORTS}{member_import.pk}/change/")
        self.assertIn("2 SMS remis", page.inner_text(COUNTERS))
        self.assertIn("Terminé", page.inner_text("#import-progress-summary"))

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
