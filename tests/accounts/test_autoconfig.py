"""Client autoconfiguration: Thunderbird's XML, Outlook's autodiscover, Apple's profile."""

import plistlib
import re
import xml.etree.ElementTree as ET

from django.core import mail, signing
from django.core.cache import cache
from django.test import override_settings

from accounts import autoconfig
from accounts.models import Domain
from provisioning.models import ProvisioningJob

from ..base import DOMAIN, OctopusTestCase, create_pierre, deliver, send_email, sms_passwords

ADDRESS = f"pierre@{DOMAIN}"
AD_REQUEST = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
AD_RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
AD_OUTLOOK = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


def outlook_request(address: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="{AD_REQUEST}"><Request>'
        f"<EMailAddress>{address}</EMailAddress>"
        f"<AcceptableResponseSchema>{AD_OUTLOOK}</AcceptableResponseSchema>"
        "</Request></Autodiscover>"
    ).encode()


def billion_laughs(declared: str = "UTF-16", codec: str = "utf-16") -> bytes:
    """The body of #12 item 5: ten nested entities, 1.6 KB, that expat expanded for 0.3 s."""
    lines = [f'<?xml version="1.0" encoding="{declared}"?>', "<!DOCTYPE lolz [",
             ' <!ENTITY lol "lol">']  # fmt: skip
    for n in range(1, 10):
        previous = f"lol{n - 1}" if n > 1 else "lol"
        lines.append(f' <!ENTITY lol{n} "{f"&{previous};" * 10}">')
    lines += ["]>", "<lolz>&lol9;</lolz>"]
    body = "\n".join(lines)
    return body.encode(codec) if codec == "utf-16" else ("\ufeff" + body).encode(codec)


def entity_address_request(encoding: str) -> bytes:
    """An Outlook request whose address comes from an internal entity."""
    body = (
        f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n'
        f'<!DOCTYPE Autodiscover [<!ENTITY who "pierre@{DOMAIN}">]>\n'
        f'<Autodiscover xmlns="{AD_REQUEST}"><Request><EMailAddress>&who;</EMailAddress>'
        "</Request></Autodiscover>"
    )
    return body.encode(encoding)


def another_domain() -> Domain:
    """A second association, with STARTTLS and its own hosts."""
    return Domain.objects.create(
        name="exemple-asbl.be",
        imap_host="imap.exemple-asbl.be",
        imap_port=143,
        imap_security="starttls",
        smtp_host="smtp.exemple-asbl.be",
        smtp_port=587,
        smtp_security="starttls",
    )


class ThunderbirdAutoconfigTests(OctopusTestCase):
    def config(self, url: str, **headers) -> ET.Element:
        response = self.client.get(url, **headers)
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response["Content-Type"], "application/xml; charset=utf-8")
        return ET.fromstring(response.content)

    def server(self, root: ET.Element, path: str) -> dict:
        element = root.find(f"emailProvider/{path}")
        return {child.tag: child.text for child in element}

    def test_it_serves_the_domain_settings_at_both_urls(self):
        for url in (
            f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={ADDRESS}",
            f"/mail/config-v1.1.xml?emailaddress={ADDRESS}",
        ):
            with self.subTest(url=url):
                root = self.config(url)
                self.assertEqual((root.tag, root.get("version")), ("clientConfig", "1.1"))
                self.assertEqual(root.find("emailProvider").get("id"), DOMAIN)
                self.assertEqual(root.findtext("emailProvider/domain"), DOMAIN)
                incoming = root.find("emailProvider/incomingServer")
                self.assertEqual(incoming.get("type"), "imap")
                self.assertEqual(
                    self.server(root, "incomingServer"),
                    {
                        "hostname": DOMAIN,
                        "port": "993",
                        "socketType": "SSL",
                        "authentication": "password-cleartext",
                        "username": "%EMAILADDRESS%",
                    },
                )
                self.assertEqual(root.find("emailProvider/outgoingServer").get("type"), "smtp")
                self.assertEqual(
                    self.server(root, "outgoingServer"),
                    {
                        "hostname": DOMAIN,
                        "port": "465",
                        "socketType": "SSL",
                        "authentication": "password-cleartext",
                        "username": "%EMAILADDRESS%",
                    },
                )
                docs = root.find("emailProvider/documentation")
                self.assertEqual(docs.get("url"), "https://mail.octopus-soignies.be/")

    def test_it_takes_the_values_from_the_address_domain_never_from_the_host_header(self):
        another_domain()
        root = self.config(
            "/mail/config-v1.1.xml?emailaddress=marie@exemple-asbl.be", HTTP_HOST="localhost"
        )
        self.assertEqual(self.server(root, "incomingServer")["hostname"], "imap.exemple-asbl.be")
        self.assertEqual(
            (
                self.server(root, "incomingServer")["port"],
                self.server(root, "incomingServer")["socketType"],
            ),
            ("143", "STARTTLS"),
        )
        self.assertEqual(
            (
                self.server(root, "outgoingServer")["port"],
                self.server(root, "outgoingServer")["socketType"],
            ),
            ("587", "STARTTLS"),
        )
        self.assertNotIn(b"localhost", self.client.get("/mail/config-v1.1.xml").content)

    def test_it_answers_for_the_association_without_an_address(self):
        root = self.config("/mail/config-v1.1.xml")
        self.assertEqual(root.findtext("emailProvider/domain"), DOMAIN)

    def test_it_refuses_an_unknown_domain_or_a_malformed_address(self):
        unknown = self.client.get("/mail/config-v1.1.xml?emailaddress=jean@example.net")
        self.assertEqual(unknown.status_code, 404)
        self.assertEqual(unknown["Content-Type"], "text/plain; charset=utf-8")
        self.assertEqual(
            unknown.content.decode(), "Le domaine « example.net » n'est pas géré ici.\n"
        )
        for value in ("pierre", "@octopus-soignies.be", "pierre <x>@octopus-soignies.be"):
            with self.subTest(value=value):
                response = self.client.get("/mail/config-v1.1.xml", {"emailaddress": value})
                self.assertEqual(response.status_code, 400)
                self.assertIn("n'est pas une adresse email complète", response.content.decode())


class OutlookAutodiscoverTests(OctopusTestCase):
    URL = "/autodiscover/autodiscover.xml"

    def setUp(self):
        super().setUp()
        cache.clear()  # the per-IP counter lives in the (local-memory) test cache

    def post(self, body: bytes, url: str = URL, **extra):
        return self.client.post(url, body, content_type="text/xml", **extra)

    def protocols(self, response) -> dict:
        root = ET.fromstring(response.content)
        self.assertEqual(root.tag, f"{{{AD_RESPONSE}}}Autodiscover")
        account = root.find(f"{{{AD_OUTLOOK}}}Response/{{{AD_OUTLOOK}}}Account")
        self.assertEqual(account.findtext(f"{{{AD_OUTLOOK}}}AccountType"), "email")
        self.assertEqual(account.findtext(f"{{{AD_OUTLOOK}}}Action"), "settings")
        return {
            protocol.findtext(f"{{{AD_OUTLOOK}}}Type"): {
                child.tag.split("}")[1]: child.text for child in protocol
            }
            for protocol in account.findall(f"{{{AD_OUTLOOK}}}Protocol")
        }

    def test_it_answers_with_the_imap_and_smtp_settings(self):
        response = self.post(outlook_request("Pierre@Octopus-Soignies.be"))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/xml; charset=utf-8")
        protocols = self.protocols(response)
        self.assertEqual(sorted(protocols), ["IMAP", "SMTP"])
        imap, smtp = protocols["IMAP"], protocols["SMTP"]
        self.assertEqual(
            (imap["Server"], imap["Port"], imap["LoginName"], imap["SSL"], imap["Encryption"]),
            (DOMAIN, "993", ADDRESS, "on", "SSL"),
        )
        self.assertEqual((imap["SPA"], imap["AuthRequired"]), ("off", "on"))
        self.assertEqual(
            (smtp["Server"], smtp["Port"], smtp["LoginName"], smtp["Encryption"]),
            (DOMAIN, "465", ADDRESS, "SSL"),
        )

    def test_it_answers_at_outlook_capitalised_url_and_for_starttls(self):
        another_domain()
        response = self.post(
            outlook_request("marie@exemple-asbl.be"), "/Autodiscover/Autodiscover.xml"
        )
        protocols = self.protocols(response)
        self.assertEqual(
            (
                protocols["IMAP"]["Server"],
                protocols["IMAP"]["Port"],
                protocols["IMAP"]["Encryption"],
            ),
            ("imap.exemple-asbl.be", "143", "TLS"),
        )
        self.assertEqual(
            (protocols["SMTP"]["Port"], protocols["SMTP"]["Encryption"]), ("587", "TLS")
        )

    def test_it_answers_the_same_for_any_local_part(self):
        # Nobody learns who is a member: only the domain's public settings differ by answer.
        create_pierre()
        known = self.post(outlook_request(ADDRESS)).content
        unknown = self.post(outlook_request(f"personne@{DOMAIN}")).content
        self.assertEqual(known.replace(b"pierre", b"personne"), unknown)

    def test_it_refuses_an_unknown_domain_cleanly(self):
        response = self.post(outlook_request("jean@example.net"))
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response["Content-Type"], "text/plain; charset=utf-8")
        self.assertEqual(
            response.content.decode(), "Le domaine « example.net » n'est pas géré ici.\n"
        )

    def test_it_refuses_malformed_requests_cleanly(self):
        bodies = {
            b"not xml at all": "illisible",
            b"<Autodiscover><Request></Request></Autodiscover>": "sans EMailAddress",
            outlook_request("pierre"): "n'est pas une adresse email complète",
            outlook_request("&lt;script&gt;@octopus-soignies.be"): "n'est pas une adresse",
            b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>': "DTD",
        }
        for body, text in bodies.items():
            with self.subTest(body=body):
                response = self.post(body)
                self.assertEqual(response.status_code, 400)
                self.assertIn(text, response.content.decode())
                self.assertNotIn("Traceback", response.content.decode())
        self.assertEqual(self.post(b"<a>" + b"x" * 20_000 + b"</a>").status_code, 413)

    def test_it_refuses_a_billion_laughs_in_utf_16_before_expanding_it(self):
        for declared, codec in [("UTF-16", "utf-16"), ("UTF-16BE", "utf-16-be"),
                                ("UTF-8", "utf-8")]:  # fmt: skip
            with self.subTest(encoding=declared):
                response = self.post(billion_laughs(declared, codec))
                self.assertEqual(response.status_code, 400)
                self.assertIn("DTD et entités interdites", response.content.decode())

    def test_it_never_resolves_an_entity_in_any_encoding(self):
        for encoding in ("utf-16", "utf-8", "iso-8859-1"):
            with self.subTest(encoding=encoding):
                response = self.post(entity_address_request(encoding))
                self.assertEqual(response.status_code, 400)
                self.assertIn("DTD et entités interdites", response.content.decode())
                self.assertNotIn(b"<LoginName>", response.content)

    def test_it_refuses_an_encoding_it_cannot_read_cleanly(self):
        # Expat reads no multi-byte encoding but UTF-8 and UTF-16; Python raised at these.
        for declared, codec in [("UTF-16-LE", "utf-16-le"), ("Shift_JIS", "shift_jis"),
                                ("nonsense", "utf-8")]:  # fmt: skip
            with self.subTest(encoding=declared):
                body = outlook_request(ADDRESS).decode()
                body = body.replace('encoding="utf-8"', f'encoding="{declared}"')
                response = self.post(body.encode(codec))
                self.assertEqual(response.status_code, 400)
                self.assertIn("illisible", response.content.decode())

    def test_it_reads_a_request_in_utf_16(self):
        body = outlook_request(ADDRESS).decode().replace('encoding="utf-8"', 'encoding="utf-16"')
        response = self.post(body.encode("utf-16"))
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(self.protocols(response)["IMAP"]["LoginName"], ADDRESS)

    def test_it_throttles_one_client_ip_flooding_the_endpoint(self):
        attempts, _window = autoconfig.AUTODISCOVER_PER_IP
        for n in range(attempts):
            body = outlook_request(ADDRESS) if n % 2 else b"not xml at all"
            response = self.post(body, REMOTE_ADDR="203.0.113.7")
            self.assertIn(response.status_code, {200, 400})
        response = self.post(outlook_request(ADDRESS), REMOTE_ADDR="203.0.113.7")
        self.assertEqual(response.status_code, 429)
        self.assertEqual(response["Content-Type"], "text/plain; charset=utf-8")
        self.assertIn("Trop de requêtes", response.content.decode())
        # Another client is not affected.
        response = self.post(outlook_request(ADDRESS), REMOTE_ADDR="198.51.100.9")
        self.assertEqual(response.status_code, 200)

    def test_it_answers_only_posts(self):
        self.assertEqual(self.client.get(self.URL).status_code, 405)

    def test_it_needs_no_csrf_token(self):
        client = self.client_class(enforce_csrf_checks=True)
        response = client.post(self.URL, outlook_request(ADDRESS), content_type="text/xml")
        self.assertEqual(response.status_code, 200)


@override_settings(PUBLIC_BASE_URL="https://comptes.octopus-soignies.be")
class AppleProfileTests(OctopusTestCase):
    def link_in_confirmation(self) -> str:
        job = send_email(deliver(create_pierre()))
        self.assertEqual(job.email_status, "sent")
        [message] = mail.outbox
        links = re.findall(r"https://comptes\.octopus-soignies\.be/mobileconfig/\S+/", message.body)
        self.assertEqual(len(links), 2)  # French, then English
        url = links[0]
        self.assertEqual(links[1], url)
        html = message.alternatives[0][0]
        self.assertIn(f'<a href="{url}">', html)
        return url

    def test_it_links_the_profile_from_the_confirmation_email(self):
        url = self.link_in_confirmation()
        mailbox = ProvisioningJob.objects.get().mailbox
        self.assertEqual(url, autoconfig.mobileconfig_url(mailbox))
        self.assertNotIn(ADDRESS, url)  # the token names no one

    def test_it_serves_a_property_list_with_the_settings_and_no_password(self):
        url = self.link_in_confirmation()
        response = self.client.get(url.removeprefix("https://comptes.octopus-soignies.be"))
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "application/x-apple-aspen-config")
        self.assertIn(
            'filename="octopus-soignies.be.mobileconfig"', response["Content-Disposition"]
        )
        profile = plistlib.loads(response.content)
        self.assertEqual((profile["PayloadType"], profile["PayloadVersion"]), ("Configuration", 1))
        [account] = profile["PayloadContent"]
        self.assertEqual(account["PayloadType"], "com.apple.mail.managed")
        expected = {
            "EmailAccountType": "EmailTypeIMAP",
            "EmailAddress": ADDRESS,
            "EmailAccountName": "Pierre Dupont",
            "IncomingMailServerHostName": DOMAIN,
            "IncomingMailServerPortNumber": 993,
            "IncomingMailServerUseSSL": True,
            "IncomingMailServerAuthentication": "EmailAuthPassword",
            "IncomingMailServerUsername": ADDRESS,
            "OutgoingMailServerHostName": DOMAIN,
            "OutgoingMailServerPortNumber": 465,
            "OutgoingMailServerUseSSL": True,
            "OutgoingMailServerAuthentication": "EmailAuthPassword",
            "OutgoingMailServerUsername": ADDRESS,
            "OutgoingPasswordSameAsIncomingPassword": True,
        }
        self.assertEqual({key: account[key] for key in expected}, expected)
        keys = set(profile) | set(account)
        self.assertEqual(
            [key for key in keys if "password" in key.lower()],
            ["OutgoingPasswordSameAsIncomingPassword"],
        )
        [password] = sms_passwords()
        self.assertNotIn(password.encode(), response.content)

    def test_it_keeps_the_same_profile_identity_on_each_download(self):
        url = self.link_in_confirmation().removeprefix("https://comptes.octopus-soignies.be")
        first = plistlib.loads(self.client.get(url).content)
        second = plistlib.loads(self.client.get(url).content)
        self.assertEqual(first["PayloadUUID"], second["PayloadUUID"])

    def test_it_refuses_a_forged_or_stale_link(self):
        mailbox = create_pierre().mailbox
        forged = [
            signing.dumps(mailbox.pk),  # signed, but not for this purpose
            autoconfig.mobileconfig_token(mailbox)[:-2] + "xx",
            "pierre@octopus-soignies.be",
        ]
        for token in forged:
            with self.subTest(token=token):
                response = self.client.get(f"/mobileconfig/{token}/")
                self.assertEqual(response.status_code, 404)
                self.assertIn("n'est pas (ou plus) valable", response.content.decode())
        mailbox.status = "disabled"
        mailbox.save()
        response = self.client.get(f"/mobileconfig/{autoconfig.mobileconfig_token(mailbox)}/")
        self.assertEqual(response.status_code, 404)
