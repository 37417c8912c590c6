"""Where the DNS health shows: `checkdns`, the admin page, the daily watch's alerts, and the
warning about a personal email whose domain receives no mail. DNS on loopback (dnslib)."""

import json
import smtplib
import time
from io import StringIO

from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.models import DnsCheckState, Mailbox
from provisioning import tasks
from provisioning.exceptions import TransientError

from ..base import OctopusTestCase, login_with_otp, make_staff_without_device, make_verified_admin
from ..fakes.dns_server import (
    DOMAIN,
    LoopbackDns,
    association_zone,
    zone_replacing,
    zone_with,
    zone_without,
)

BROKEN_ZONE = zone_with(
    zone_without(association_zone(), "mail._domainkey"), '@ IN TXT "v=spf1 a -all"'
)  # the done criterion: no DKIM key, and two SPF records


class DnsTestCase(LoopbackDns, OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.domain.dkim_selector = "mail"
        self.domain.save()


class CheckDnsCommandTests(DnsTestCase):
    def checkdns(self, *args) -> tuple[str, CommandError | None]:
        out = StringIO()
        try:
            call_command("checkdns", *args, stdout=out, no_color=True)
        except CommandError as exc:
            return out.getvalue(), exc
        return out.getvalue(), None

    def test_it_prints_all_ok_and_succeeds_on_a_correct_zone(self):
        output, error = self.checkdns(DOMAIN)
        self.assertIsNone(error)
        lines = output.splitlines()
        self.assertEqual(sum(line.startswith("OK ") for line in lines), 11, output)
        self.assertIn("Bilan : 11 correct(s), 0 avertissement(s), 0 erreur(s).", output)
        self.assertNotIn("à publier", output)

    def test_it_prints_the_errors_in_french_and_fails_on_a_broken_zone(self):
        self.dns.load(BROKEN_ZONE)
        output, error = self.checkdns(DOMAIN)
        self.assertEqual(error.returncode, 1)
        self.assertIn("2 erreur(s) dans le DNS de octopus-soignies.be", str(error))
        errors = [line for line in output.splitlines() if line.startswith("ERREUR")]
        self.assertEqual(len(errors), 2, output)
        self.assertIn("SPF : 2 enregistrements SPF", errors[0])
        self.assertIn("DKIM : Aucune clé DKIM pour le sélecteur « mail »", errors[1])
        self.assertIn(
            'à publier : mail._domainkey.octopus-soignies.be. IN TXT "v=DKIM1; k=rsa;', output
        )

    def test_it_takes_the_selector_from_the_command_line(self):
        self.domain.dkim_selector = ""
        self.domain.save()
        output, _error = self.checkdns(DOMAIN)
        self.assertIn("AVERTISSEMENT DKIM : Aucun sélecteur", output)
        output, error = self.checkdns(DOMAIN, "--dkim-selector", "mail")
        self.assertIsNone(error)
        self.assertIn("DKIM : Sélecteur « mail » : clé RSA de 2048 bits", output)

    def test_it_prints_json_for_monitoring(self):
        self.dns.load(BROKEN_ZONE)
        output, error = self.checkdns(DOMAIN, "--json")
        self.assertEqual(error.returncode, 1)
        report = json.loads(output)
        self.assertEqual((report["domain"], report["ok"]), (DOMAIN, False))
        levels = {f["check"]: (f["level"], f["conclusive"]) for f in report["findings"]}
        self.assertEqual(levels["spf"], ("error", True))
        self.assertEqual(levels["dkim"], ("error", True))
        self.assertEqual(levels["mx"], ("ok", True))
        self.assertEqual(len(levels), 11)

    def test_it_refuses_an_unknown_domain_in_french(self):
        output, error = self.checkdns("exemple.be")
        self.assertIn("Le domaine « exemple.be » n'est pas géré ici", str(error))
        self.assertEqual(output, "")

    @override_settings(DNS_TIMEOUT=0.2, DNS_LIFETIME=0.4)
    def test_it_exits_2_when_the_dns_does_not_answer(self):
        self.dns.timeouts.add(f"_dmarc.{DOMAIN}")
        output, error = self.checkdns(DOMAIN)
        self.assertEqual(error.returncode, 2)
        self.assertIn("INDÉTERMINÉ   DMARC : Le serveur DNS n'a pas répondu à temps", output)


class DnsHealthAdminTests(DnsTestCase):
    def setUp(self):
        super().setUp()
        user, static, tokens = make_verified_admin()
        login_with_otp(self.client, user, static, tokens[0])
        self.url = f"/admin/accounts/domain/{self.domain.pk}/dns/"

    def test_it_shows_one_row_a_check_with_its_colour(self):
        self.dns.load(BROKEN_ZONE)
        response = self.client.get(self.url)
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Santé du DNS de octopus-soignies.be")
        self.assertContains(response, '<tr class="dns-', count=11)
        self.assertContains(response, '<strong style="color: #cf222e">erreur</strong>', count=2)
        self.assertContains(response, '<strong style="color: #1a7f37">correct</strong>', count=9)
        self.assertContains(response, "Aucune clé DKIM pour le sélecteur « mail »")
        self.assertContains(response, "mail._domainkey.octopus-soignies.be. IN TXT")

    def test_it_links_the_page_from_the_domain_list_and_page(self):
        for page in ("/admin/accounts/domain/", f"/admin/accounts/domain/{self.domain.pk}/change/"):
            with self.subTest(page=page):
                self.assertContains(self.client.get(page), f'href="{self.url}"')

    def test_it_is_not_shown_to_visitors_without_a_second_factor(self):
        self.client.logout()
        user = make_staff_without_device()
        self.client.force_login(user)
        response = self.client.get(self.url)
        self.assertEqual(response.status_code, 302)
        self.assertIn("/admin/login/", response["Location"])
        self.assertEqual(self.dns.queries, [])


class FailingEmailBackend(EmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("connection lost")


class DnsWatchTests(DnsTestCase):
    def setUp(self):
        super().setUp()
        make_verified_admin()  # claire@octopus-soignies.be, staff
        make_staff_without_device()  # marc@octopus-soignies.be, staff too

    def states(self) -> dict:
        return dict(DnsCheckState.objects.values_list("check_name", "level"))

    def test_it_emails_once_when_a_check_turns_from_ok_to_error(self):
        tasks.watch_dns()  # day 1: all ok
        self.assertEqual(mail.outbox, [])
        self.assertEqual(set(self.states().values()), {"ok"})
        self.dns.load(zone_without(association_zone(), "mail._domainkey"))
        tasks.watch_dns()  # day 2: DKIM gone
        [alert] = mail.outbox
        self.assertEqual(
            sorted(alert.to), ["claire@octopus-soignies.be", "marc@octopus-soignies.be"]
        )
        self.assertIn("DNS : 1 contrôle en défaut (octopus-soignies.be)", alert.subject)
        self.assertIn("- DKIM : correct → erreur", alert.body)
        self.assertIn("Aucune clé DKIM pour le sélecteur « mail »", alert.body)
        self.assertIn(f"/admin/accounts/domain/{self.domain.pk}/dns/", alert.body)
        self.assertEqual(self.states()["dkim"], "error")
        tasks.watch_dns()  # day 3: still broken, nothing new to say
        self.assertEqual(len(mail.outbox), 1)

    def test_it_reports_what_is_broken_on_its_first_run_and_when_it_breaks_again(self):
        self.dns.load(zone_without(association_zone(), "_dmarc"))
        tasks.watch_dns()
        self.assertEqual(len(mail.outbox), 1)
        self.dns.load(association_zone())
        tasks.watch_dns()  # repaired: no email
        self.assertEqual((len(mail.outbox), self.states()["dmarc"]), (1, "ok"))
        self.dns.load(
            zone_replacing(association_zone(), "_dmarc", '_dmarc IN TXT "v=DMARC1; p=none"')
        )
        tasks.watch_dns()
        self.assertEqual(len(mail.outbox), 2)
        self.assertIn("- DMARC : correct → avertissement", mail.outbox[1].body)

    def test_it_emails_when_a_warning_becomes_an_error(self):
        self.dns.load(
            zone_replacing(association_zone(), "_dmarc", '_dmarc IN TXT "v=DMARC1; p=none"')
        )
        tasks.watch_dns()
        self.dns.load(zone_without(association_zone(), "_dmarc"))
        tasks.watch_dns()
        self.assertEqual(len(mail.outbox), 2)
        self.assertIn("- DMARC : avertissement → erreur", mail.outbox[1].body)

    @override_settings(DNS_TIMEOUT=0.2, DNS_LIFETIME=0.4)
    def test_it_neither_stores_nor_reports_a_timeout(self):
        tasks.watch_dns()
        self.dns.timeouts.add(f"_dmarc.{DOMAIN}")
        tasks.watch_dns()
        self.assertEqual(mail.outbox, [])
        self.assertEqual(self.states()["dmarc"], "ok")

    def test_it_keeps_the_old_states_when_the_alert_cannot_leave(self):
        tasks.watch_dns()
        self.dns.load(BROKEN_ZONE)
        backend = f"{__name__}.FailingEmailBackend"
        with override_settings(EMAIL_BACKEND=backend), self.assertRaises(TransientError):
            tasks.watch_dns.run()
        self.assertEqual((self.states()["spf"], self.states()["dkim"]), ("ok", "ok"))
        tasks.watch_dns()  # the next try tells the news
        self.assertIn("- SPF : correct → erreur", mail.outbox[0].body)


class PersonalEmailWarningTests(DnsTestCase):
    ZONE = zone_with(
        association_zone(),
        "fournisseur.be. IN MX 10 mx.fournisseur.be.",
        "fournisseur.be. IN A 192.0.2.80",
        'sans-courrier.be. IN TXT "site vitrine"',
    )

    def setUp(self):
        super().setUp()
        self.dns.load(self.ZONE)
        user, static, tokens = make_verified_admin()
        login_with_otp(self.client, user, static, tokens[0])

    def create(self, personal_email: str):
        data = {
            "full_name": "Pierre Dupont",
            "local_part": "pierre",
            "domain": self.domain.pk,
            "personal_email": personal_email,
            "phone": "0470 12 34 56",
        }
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post("/admin/accounts/mailbox/add/", data, follow=True)

    def messages(self, response) -> list[str]:
        return [(m.level_tag, m.message) for m in response.context["messages"]]

    def test_it_warns_after_saving_when_the_domain_receives_no_mail(self):
        response = self.create("pierre@sans-courrier.be")
        self.assertEqual(Mailbox.objects.count(), 1)
        [warning] = [text for level, text in self.messages(response) if level == "warning"]
        self.assertIn(
            "le domaine sans-courrier.be n'a ni serveur de courrier (MX) ni adresse", warning
        )
        self.assertIn("pierre@sans-courrier.be", warning)

    def test_it_says_so_when_the_domain_does_not_exist(self):
        response = self.create("pierre@inexistant.be")
        self.assertEqual(Mailbox.objects.count(), 1)
        self.assertIn(
            ("warning", "Attention : le domaine inexistant.be n'existe pas dans le DNS. "
             "L'email de confirmation envoyé à pierre@inexistant.be risque de ne jamais "
             "arriver : vérifiez l'adresse personnelle du membre."),
            self.messages(response),
        )  # fmt: skip

    def test_it_says_nothing_when_the_domain_has_a_mail_server(self):
        response = self.create("pierre@fournisseur.be")
        self.assertEqual(Mailbox.objects.count(), 1)
        self.assertEqual([m for m in self.messages(response) if m[0] == "warning"], [])

    @override_settings(DNS_TIMEOUT=0.2, DNS_LIFETIME=0.4)
    def test_it_saves_without_a_warning_when_the_dns_times_out(self):
        self.dns.timeouts.add("fournisseur.be")
        started = time.monotonic()
        response = self.create("pierre@fournisseur.be")
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(Mailbox.objects.count(), 1)
        self.assertEqual([m for m in self.messages(response) if m[0] == "warning"], [])

    def test_it_asks_nothing_when_the_form_has_errors(self):
        response = self.create("pierre@")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(Mailbox.objects.count(), 0)
        self.assertEqual(self.dns.queries, [])
