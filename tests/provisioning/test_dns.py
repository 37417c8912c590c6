"""The DNS gateway and the domain checks, against a DNS server on loopback (dnslib)."""

import time

from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings

from accounts.models import Domain
from provisioning import checks, dns, dnshealth
from provisioning.exceptions import PermanentError

from ..fakes.dns_server import (
    DOMAIN,
    LoopbackDns,
    association_zone,
    rsa_public_key,
    txt,
    zone_replacing,
    zone_with,
    zone_without,
)

FAST_TIMEOUT = {"DNS_TIMEOUT": 0.2, "DNS_LIFETIME": 0.4}


def association_domain(**fields) -> Domain:
    """The association's published settings (DESIGN.md); not saved: the checks only read it."""
    values = {
        "name": DOMAIN,
        "imap_host": DOMAIN,
        "smtp_host": DOMAIN,
        "webmail_url": "https://mail.octopus-soignies.be/",
        "cloud_url": "https://cloud.octopus-soignies.be",
        "dkim_selector": "mail",
        **fields,
    }
    return Domain(**values)


class NameserverSettingTests(SimpleTestCase):
    def test_it_reads_addresses_with_and_without_ports(self):
        self.assertEqual(
            dns.parse_nameservers(["192.0.2.53", "127.0.0.1:5353", "[2001:db8::53]:54", "::1"]),
            [("192.0.2.53", 53), ("127.0.0.1", 5353), ("2001:db8::53", 54), ("::1", 53)],
        )

    def test_it_refuses_a_host_name_or_a_bad_port(self):
        for value in ("dns.example.be", "192.0.2.53:dns", "192.0.2.53:70000"):
            with self.subTest(value=value), self.assertRaises(ImproperlyConfigured):
                dns.parse_nameservers([value])

    def test_it_reports_a_bad_setting_as_a_system_check_error(self):
        with override_settings(DNS_NAMESERVERS=["resolver.example.be"]):
            errors = checks.dns_settings(None)
        self.assertEqual([e.id for e in errors], ["provisioning.E020"])
        with override_settings(DNS_TIMEOUT=5, DNS_LIFETIME=2):
            self.assertEqual([e.id for e in checks.dns_settings(None)], ["provisioning.E021"])

    def test_it_uses_only_the_configured_servers(self):
        with override_settings(DNS_NAMESERVERS=["127.0.0.1:5353"], DNS_TIMEOUT=1, DNS_LIFETIME=3):
            resolver = dns.resolver()
        self.assertEqual([(n.address, n.port) for n in resolver.nameservers], [("127.0.0.1", 5353)])
        self.assertEqual((resolver.timeout, resolver.lifetime), (1, 3))


class DnsGatewayTests(LoopbackDns, SimpleTestCase):
    def test_it_tells_a_missing_name_from_a_missing_type(self):
        missing_name = dns.lookup(f"nexiste-pas.{DOMAIN}", "TXT")
        missing_type = dns.lookup(DOMAIN, "SRV")
        self.assertEqual((missing_name.status, missing_name.records), (dns.NXDOMAIN, ()))
        self.assertEqual((missing_type.status, missing_type.records), (dns.NODATA, ()))
        self.assertIn("n'existe pas (NXDOMAIN)", missing_name.describe())
        self.assertIn("existe mais n'a pas d'enregistrement SRV", missing_type.describe())

    def test_it_raises_a_timeout_rather_than_saying_the_record_is_missing(self):
        self.dns.timeouts.add(f"_dmarc.{DOMAIN}")
        started = time.monotonic()
        with override_settings(**FAST_TIMEOUT), self.assertRaises(dns.DnsTimeout) as caught:
            dns.lookup(f"_dmarc.{DOMAIN}", "TXT")
        self.assertLess(time.monotonic() - started, 2)
        self.assertIn("n'a pas répondu à temps", caught.exception.message)
        self.assertIn("ne veut pas dire que l'enregistrement manque", caught.exception.message)

    def test_it_raises_a_failure_on_servfail(self):
        self.dns.failures.add(DOMAIN)
        with self.assertRaises(dns.DnsFailure):
            dns.lookup(DOMAIN, "MX")

    def test_it_joins_a_dkim_key_split_over_several_strings(self):
        key = rsa_public_key(2048)
        self.assertGreater(len(key), 255)  # one TXT string holds 255 bytes at most
        answer = dns.lookup(f"mail._domainkey.{DOMAIN}", "TXT")
        self.assertEqual(answer.records, (f"v=DKIM1; k=rsa; p={key}",))

    def test_it_reads_mx_srv_and_ptr_as_plain_values(self):
        self.assertEqual(dns.lookup(DOMAIN.upper(), "MX").records, ((10, DOMAIN),))
        self.assertEqual(dns.lookup(f"_imap._tcp.{DOMAIN}", "SRV").records, ((0, 0, 0, "."),))
        self.assertEqual(dns.lookup(dns.reverse_name("2001:db8::10"), "PTR").records, (DOMAIN,))

    def test_it_refuses_an_invalid_name_in_french(self):
        with self.assertRaises(PermanentError) as caught:
            dns.lookup("a" * 64 + ".be", "A")
        self.assertIn("n'est pas un nom de domaine valide", caught.exception.message)


class ChecksTestCase(LoopbackDns, SimpleTestCase):
    domain_fields: dict = {}

    def check(self, key: str, zone: str | None = None, **domain_fields) -> dnshealth.Finding:
        if zone is not None:
            self.dns.load(zone)
        domain = association_domain(**{**self.domain_fields, **domain_fields})
        [finding] = [f for f in dnshealth.domain_check_dns(domain=domain) if f.check == key]
        return finding

    def assertLevel(self, finding, level: str, *texts: str):
        self.assertEqual(finding.level, level, finding.message)
        self.assertTrue(finding.conclusive)
        for text in texts:
            self.assertIn(text, finding.message + "\n" + finding.record)


class AssociationZoneTests(ChecksTestCase):
    def test_it_finds_every_check_ok_on_the_association_zone(self):
        findings = dnshealth.domain_check_dns(domain=association_domain())
        self.assertEqual(
            [(f.check, f.level, f.conclusive, f.record) for f in findings],
            [(key, "ok", True, "") for key, _label, _check in dnshealth.CHECKS],
        )

    def test_it_asks_each_question_once(self):
        dnshealth.domain_check_dns(domain=association_domain())
        self.assertEqual(len(self.dns.queries), len(set(self.dns.queries)))


class MxCheckTests(ChecksTestCase):
    def test_it_is_ok_when_the_mail_host_is_the_preferred_mx(self):
        self.assertLevel(self.check("mx"), "ok", "arrive sur octopus-soignies.be")

    def test_it_warns_when_the_mail_host_is_only_a_backup(self):
        zone = zone_replacing(
            association_zone(), "@ IN MX",
            "@ IN MX 5 relais.example.net.", "@ IN MX 10 octopus-soignies.be.",
        )  # fmt: skip
        self.assertLevel(self.check("mx", zone), "warning", "pas le préféré")

    def test_it_errs_without_mx_and_gives_the_record(self):
        finding = self.check("mx", zone_without(association_zone(), "@ IN MX"))
        self.assertLevel(finding, "error", "n'a pas d'enregistrement MX")
        self.assertEqual(finding.record, "octopus-soignies.be. IN MX 10 octopus-soignies.be.")

    def test_it_errs_when_the_mx_names_another_host_or_is_null(self):
        other = zone_replacing(association_zone(), "@ IN MX", "@ IN MX 10 mx.example.net.")
        self.assertLevel(self.check("mx", other), "error", "pas le serveur configuré")
        null = zone_replacing(association_zone(), "@ IN MX", "@ IN MX 0 .")
        self.assertLevel(self.check("mx", null), "error", "MX nul")

    def test_it_follows_the_domain_mx_host_setting(self):
        zone = zone_replacing(association_zone(), "@ IN MX", "@ IN MX 10 mx1.example.net.")
        self.assertLevel(self.check("mx", zone, mx_host="mx1.example.net"), "ok")


class SpfCheckTests(ChecksTestCase):
    def spf(self, *records: str) -> dnshealth.Finding:
        lines = [f'@ IN TXT "{record}"' for record in records]
        return self.check("spf", zone_replacing(association_zone(), "@ IN TXT", *lines))

    def test_it_is_ok_when_the_mail_host_passes_with_a_strict_ending(self):
        self.assertLevel(self.check("spf"), "ok", "(192.0.2.10) est autorisé", "(2001:db8::10)")
        self.assertLevel(self.spf("v=spf1 mx ~all"), "ok", "~all")

    def test_it_follows_includes(self):
        zone = zone_with(
            zone_replacing(
                association_zone(), "@ IN TXT", f'@ IN TXT "v=spf1 include:_spf.{DOMAIN} -all"'
            ),
            '_spf IN TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"',
        )  # fmt: skip
        self.assertLevel(self.check("spf", zone), "ok")

    def test_it_errs_on_two_spf_records(self):
        finding = self.spf("v=spf1 mx -all", "v=spf1 a -all")
        self.assertLevel(finding, "error", "2 enregistrements SPF", "Fusionnez-les")
        self.assertIn('IN TXT "v=spf1 mx -all"', finding.record)

    def test_it_errs_without_spf(self):
        finding = self.check("spf", zone_without(association_zone(), "@ IN TXT"))
        self.assertLevel(
            finding, "error", "Aucun enregistrement SPF", "n'a pas d'enregistrement TXT"
        )
        self.assertLevel(self.spf("google-site-verification=abc"), "error", "aucun TXT ne commence")

    def test_it_errs_when_the_mail_host_is_not_authorised(self):
        finding = self.spf("v=spf1 ip4:198.51.100.0/24 -all")
        self.assertLevel(finding, "error", "(192.0.2.10) n'est pas autorisé (résultat fail)")

    def test_it_errs_on_a_record_receivers_cannot_read(self):
        self.assertLevel(self.spf("v=spf1 mx foo:bar -all"), "error", "« foo:bar » n'est pas")
        self.assertLevel(self.spf("v=spf1 ip4:192.0.2.300 -all"), "error", "réseau valide")

    def test_it_errs_on_plus_all_and_warns_on_a_neutral_ending(self):
        self.assertLevel(self.spf("v=spf1 mx +all"), "error", "n'importe quel serveur")
        self.assertLevel(self.spf("v=spf1 mx ?all"), "warning", "« ?all » est neutre")
        self.assertLevel(self.spf("v=spf1 mx"), "warning", "ni par -all ni par ~all")

    def test_it_errs_over_ten_dns_lookups(self):
        includes = " ".join(f"include:_s{n}.{DOMAIN}" for n in range(10))
        zone = zone_with(
            zone_replacing(
                association_zone(), "@ IN TXT", f"@ IN TXT {txt(f'v=spf1 mx {includes} -all')}"
            ),
            *[f'_s{n} IN TXT "v=spf1 -all"' for n in range(10)],
        )
        self.assertLevel(self.check("spf", zone), "error", "11 requêtes DNS", "10 permises")

    def test_it_warns_when_only_ptr_could_authorise(self):
        self.assertLevel(self.spf("v=spf1 ptr -all"), "warning", "à confirmer")


class DkimCheckTests(ChecksTestCase):
    def key(self, record: str) -> dnshealth.Finding:
        zone = zone_replacing(
            association_zone(), "mail._domainkey", f"mail._domainkey IN TXT {record}"
        )
        return self.check("dkim", zone)

    def test_it_is_ok_with_a_2048_bit_key_split_over_strings(self):
        self.assertLevel(self.check("dkim"), "ok", "« mail »", "2048 bits")

    def test_it_warns_about_a_1024_bit_key_and_errs_under_1024(self):
        self.assertLevel(
            self.key(txt(f"v=DKIM1; k=rsa; p={rsa_public_key(1024)}")), "warning", "1024 bits",
            "2048 bits sont recommandés",
        )  # fmt: skip
        self.assertLevel(self.key(txt(f"v=DKIM1; p={rsa_public_key(512)}")), "error", "512 bits")

    def test_it_errs_when_the_key_is_missing(self):
        finding = self.check("dkim", zone_without(association_zone(), "mail._domainkey"))
        self.assertLevel(
            finding, "error", "Aucune clé DKIM pour le sélecteur « mail »", "NXDOMAIN",
            'mail._domainkey.octopus-soignies.be. IN TXT "v=DKIM1; k=rsa; p=',
        )  # fmt: skip

    def test_it_errs_on_a_revoked_or_unreadable_key(self):
        self.assertLevel(self.key('"v=DKIM1; k=rsa; p="'), "error", "révoquée")
        self.assertLevel(self.key('"v=DKIM1; k=rsa; p=bm90IGEga2V5"'), "error", "illisible")

    def test_it_warns_about_an_ed25519_key_alone(self):
        key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
        self.assertLevel(self.key(f'"v=DKIM1; k=ed25519; p={key}"'), "warning", "Ed25519")

    def test_it_warns_without_a_selector_and_takes_one_from_the_command(self):
        self.assertLevel(self.check("dkim", dkim_selector=""), "warning", "Aucun sélecteur")
        domain = association_domain(dkim_selector="")
        findings = dnshealth.domain_check_dns(domain=domain, dkim_selector="mail")
        self.assertEqual(findings[2].level, "ok")


class DmarcCheckTests(ChecksTestCase):
    def dmarc(self, *records: str) -> dnshealth.Finding:
        lines = [f'_dmarc IN TXT "{record}"' for record in records]
        return self.check("dmarc", zone_replacing(association_zone(), "_dmarc", *lines))

    def test_it_is_ok_with_a_policy_and_reports(self):
        self.assertLevel(self.check("dmarc"), "ok", "p=quarantine", "mailto:dmarc@")

    def test_it_warns_on_monitoring_only_or_without_reports(self):
        self.assertLevel(
            self.dmarc("v=DMARC1; p=none; rua=mailto:d@octopus-soignies.be"), "warning", "p=none"
        )
        self.assertLevel(self.dmarc("v=DMARC1; p=reject"), "warning", "pas de rua=")

    def test_it_errs_without_a_policy_or_with_a_wrong_one(self):
        finding = self.check("dmarc", zone_without(association_zone(), "_dmarc"))
        self.assertLevel(
            finding, "error", "Aucune politique DMARC", "_dmarc.octopus-soignies.be. IN TXT"
        )
        self.assertLevel(self.dmarc("v=DMARC1; p=strict"), "error", "p=strict")
        self.assertLevel(
            self.dmarc("v=DMARC1; p=none", "v=DMARC1; p=reject"), "error", "2 politiques"
        )


class SrvCheckTests(ChecksTestCase):
    def test_it_is_ok_with_implicit_tls_offered_and_plain_ports_not_offered(self):
        self.assertLevel(self.check("srv_imaps"), "ok", "octopus-soignies.be:993")
        self.assertLevel(self.check("srv_submissions"), "ok", "octopus-soignies.be:465")
        self.assertLevel(self.check("srv_imap"), "ok", "non proposé")
        self.assertLevel(self.check("srv_submission"), "ok", "non proposé")

    def test_it_warns_when_the_offered_service_is_not_announced(self):
        finding = self.check("srv_imaps", zone_without(association_zone(), "_imaps._tcp"))
        self.assertLevel(
            finding,
            "warning",
            "NXDOMAIN",
            "_imaps._tcp.octopus-soignies.be. IN SRV 0 1 993 octopus-soignies.be.",
        )

    def test_it_errs_when_the_offered_service_is_announced_wrong(self):
        dot = zone_replacing(association_zone(), "_imaps._tcp", "_imaps._tcp IN SRV 0 0 0 .")
        self.assertLevel(self.check("srv_imaps", dot), "error", "non proposé")
        port = zone_replacing(
            association_zone(), "_submissions._tcp", f"_submissions._tcp IN SRV 0 1 587 {DOMAIN}."
        )
        self.assertLevel(self.check("srv_submissions", port), "error", "octopus-soignies.be:587")

    def test_it_warns_when_an_unused_service_is_announced(self):
        zone = zone_replacing(
            association_zone(), "_imap._tcp", f"_imap._tcp IN SRV 0 1 143 {DOMAIN}."
        )
        self.assertLevel(
            self.check("srv_imap", zone), "warning", "n'utilisent pas", "IN SRV 0 0 0 ."
        )

    def test_it_follows_the_domain_security_setting(self):
        starttls = {"imap_security": "starttls", "imap_port": 143}
        self.assertLevel(self.check("srv_imap", **starttls), "error", "octopus-soignies.be:143")
        self.assertLevel(self.check("srv_imaps", **starttls), "warning", "n'utilisent pas")


class ClientHostCheckTests(ChecksTestCase):
    def test_it_is_ok_when_both_names_lead_somewhere(self):
        self.assertLevel(self.check("autoconfig"), "ok", "192.0.2.20", "/mail/config-v1.1.xml")
        self.assertLevel(self.check("autodiscover"), "ok", "/autodiscover/autodiscover.xml")

    @override_settings(PUBLIC_BASE_URL="https://comptes.octopus-soignies.be")
    def test_it_warns_when_a_name_is_missing_and_names_the_app(self):
        finding = self.check("autoconfig", zone_without(association_zone(), "autoconfig"))
        self.assertLevel(finding, "warning", "NXDOMAIN")
        self.assertEqual(
            finding.record,
            "autoconfig.octopus-soignies.be. IN CNAME comptes.octopus-soignies.be.",
        )

    def test_it_errs_when_a_name_points_at_a_loopback_address(self):
        zone = zone_replacing(association_zone(), "autodiscover", "autodiscover IN A 127.0.0.1")
        self.assertLevel(self.check("autodiscover", zone), "error", "adresse locale")


class ReverseDnsCheckTests(ChecksTestCase):
    def test_it_is_ok_when_every_address_maps_back(self):
        self.assertLevel(
            self.check("rdns"), "ok", "192.0.2.10 → octopus-soignies.be", "2001:db8::10"
        )

    def test_it_errs_on_an_address_without_ptr(self):
        finding = self.check("rdns", zone_without(association_zone(), "10.2.0.192.in-addr.arpa."))
        self.assertLevel(finding, "error", "192.0.2.10 n'a pas de nom inverse")
        self.assertIn("10.2.0.192.in-addr.arpa. IN PTR octopus-soignies.be.", finding.record)

    def test_it_warns_when_the_ptr_name_does_not_map_back(self):
        zone = zone_replacing(
            association_zone(), "10.2.0.192.in-addr.arpa.",
            "10.2.0.192.in-addr.arpa. IN PTR static-10.fournisseur.example.",
        )  # fmt: skip
        self.assertLevel(self.check("rdns", zone), "warning", "ne revient pas à 192.0.2.10")

    def test_it_errs_when_the_sending_host_has_no_address(self):
        finding = self.check("rdns", smtp_host="smtp.octopus-soignies.be")
        self.assertLevel(finding, "error", "smtp.octopus-soignies.be n'a pas d'adresse", "NXDOMAIN")


class UnansweredDnsTests(ChecksTestCase):
    def test_it_keeps_nxdomain_no_data_and_timeout_apart(self):
        nxdomain = self.check("dmarc", zone_without(association_zone(), "_dmarc"))
        no_data = self.check(
            "dmarc", zone_replacing(association_zone(), "_dmarc", "_dmarc IN A 192.0.2.99")
        )
        self.dns.load(association_zone())
        self.dns.timeouts.add(f"_dmarc.{DOMAIN}")
        with override_settings(**FAST_TIMEOUT):
            timeout = self.check("dmarc")
        self.assertEqual((nxdomain.level, nxdomain.conclusive), ("error", True))
        self.assertIn("n'existe pas (NXDOMAIN)", nxdomain.message)
        self.assertEqual((no_data.level, no_data.conclusive), ("error", True))
        self.assertIn("existe mais n'a pas d'enregistrement TXT", no_data.message)
        self.assertEqual(
            (timeout.level, timeout.conclusive, timeout.record), ("warning", False, "")
        )
        self.assertIn("n'a pas répondu à temps", timeout.message)
        self.assertEqual(timeout.level_label, "indéterminé")

    def test_it_reports_a_failing_server_as_inconclusive(self):
        self.dns.failures.add(f"mail._domainkey.{DOMAIN}")
        finding = self.check("dkim")
        self.assertEqual((finding.level, finding.conclusive), ("warning", False))
        self.assertIn("impossible de vérifier", finding.message)

    def test_it_gives_up_quickly_when_the_dns_answers_nothing(self):
        self.dns.load(association_zone())
        for name in {str(rr.rname).rstrip(".").lower() for rr in self.dns.records}:
            self.dns.timeouts.add(name)
        self.dns.timeouts.update({f"_imap._tcp.{DOMAIN}", f"autoconfig.{DOMAIN}"})
        started = time.monotonic()
        with override_settings(**FAST_TIMEOUT):
            findings = dnshealth.domain_check_dns(domain=association_domain())
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual({(f.level, f.conclusive) for f in findings}, {("warning", False)})
        self.assertIn("contrôle abandonné", findings[-1].message)
