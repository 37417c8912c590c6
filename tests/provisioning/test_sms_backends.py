"""The SMS layer: one contract every backend keeps, then each backend's own duties."""

import io
import logging
import os
import re
import socket
import stat
import tempfile
import time
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from unittest import mock

from django.test import SimpleTestCase, override_settings
from twilio.http.http_client import TwilioHttpClient

from provisioning.exceptions import PermanentError, TransientError
from provisioning.sms import (
    BaseSmsBackend,
    SentSms,
    console,
    get_backend,
    locmem,
    password_sms,
    send_sms,
)
from provisioning.sms.base import fits_one_segment, is_gsm7, mask_phone
from provisioning.sms.twilio import BaseUrlHttpClient

from ..fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

TO = "+32470123456"
OTHER_TO = "+32470987654"
PASSWORD = "k7dmx-3qp9w-teh4n-c2rfa"
OTHER_PASSWORD = "p4wnz-8hkc3-yq2ds-r6tfm"
BODY = (
    f"Octopus-Soignies : mot de passe de pierre@octopus-soignies.be : {PASSWORD} "
    "(conservé nulle part, gardez ce SMS)"
)
OTHER_BODY = (
    f"Octopus-Soignies : nouveau mot de passe de anne@octopus-soignies.be : {OTHER_PASSWORD} "
    "(conservé nulle part, gardez ce SMS)"
)
SENDER = "+32460200100"
MESSAGING_SERVICE_SID = "MG0123456789abcdef0123456789abcdef"
TWILIO = "provisioning.sms.twilio.SmsBackend"


class SmsBackendContract:
    """What every SMS backend promises; a test case mixes it in and says where messages land."""

    name = ""  # the module under provisioning.sms

    def make_backend(self) -> BaseSmsBackend:
        return get_backend(f"provisioning.sms.{self.name}.SmsBackend")

    def delivered(self) -> list[dict]:
        """The messages at the backend's destination, as {"id", "to", "body"}."""
        raise NotImplementedError

    def test_it_is_importable_by_its_dotted_path(self):
        backend = get_backend(f"provisioning.sms.{self.name}.SmsBackend")
        self.assertIsInstance(backend, BaseSmsBackend)
        self.assertEqual(type(backend).__module__, f"provisioning.sms.{self.name}")
        self.assertEqual(type(backend).__name__, "SmsBackend")

    def test_it_returns_the_message_id(self):
        sent = self.make_backend().send(to=TO, body=BODY)
        self.assertIsInstance(sent, SentSms)
        self.assertIsInstance(sent.message_id, str)
        self.assertNotEqual(sent.message_id.strip(), "")

    def test_it_delivers_the_exact_body_to_the_recipient(self):
        sent = self.make_backend().send(to=TO, body=BODY)
        self.assertEqual(self.delivered(), [{"id": sent.message_id, "to": TO, "body": BODY}])

    def test_it_gives_each_message_its_own_id(self):
        backend = self.make_backend()
        first = backend.send(to=TO, body=BODY)
        second = backend.send(to=OTHER_TO, body=OTHER_BODY)
        self.assertNotEqual(first.message_id, second.message_id)
        self.assertCountEqual(
            self.delivered(),
            [
                {"id": first.message_id, "to": TO, "body": BODY},
                {"id": second.message_id, "to": OTHER_TO, "body": OTHER_BODY},
            ],
        )


class LocmemSmsBackendTests(SmsBackendContract, SimpleTestCase):
    name = "locmem"

    def delivered(self):
        return [{"id": m["message_id"], "to": m["to"], "body": m["body"]} for m in locmem.outbox]


@override_settings(DEBUG=True)
class ConsoleSmsBackendTests(SmsBackendContract, SimpleTestCase):
    name = "console"
    PRINTED = re.compile(r"^--- SMS (\S+) à (\S+)\n(.*?)\n---$", re.MULTILINE | re.DOTALL)

    def setUp(self):
        self.stream = io.StringIO()

    def make_backend(self):
        return console.SmsBackend(stream=self.stream)

    def delivered(self):
        return [
            {"id": id_, "to": to, "body": body}
            for id_, to, body in self.PRINTED.findall(self.stream.getvalue())
        ]

    def test_it_prints_the_body_in_debug(self):
        self.make_backend().send(to=TO, body=BODY)
        self.assertIn(BODY, self.stream.getvalue())

    @override_settings(DEBUG=False)
    def test_it_never_prints_the_password_without_debug(self):
        sent = self.make_backend().send(to=TO, body=BODY)
        output = self.stream.getvalue()
        self.assertNotIn(PASSWORD, output)
        self.assertIn(f"--- SMS {sent.message_id} à {TO}\n", output)
        self.assertIn(f"[{len(BODY)} caractères, non affichés hors mode DEBUG]", output)

    def test_it_writes_to_standard_output_by_default(self):
        with redirect_stdout(io.StringIO()) as stdout:
            sent = get_backend("provisioning.sms.console.SmsBackend").send(to=TO, body=BODY)
        self.assertIn(f"--- SMS {sent.message_id} à {TO}\n{BODY}\n---\n", stdout.getvalue())


class FilebasedSmsBackendTests(SmsBackendContract, SimpleTestCase):
    name = "filebased"

    def setUp(self):
        self.tmp = Path(self.enterContext(tempfile.TemporaryDirectory()))
        self.path = self.tmp / "sms"  # not there yet: the backend makes it
        self.enterContext(override_settings(SMS_FILE_PATH=str(self.path)))

    def files(self) -> list[Path]:
        return sorted(self.path.iterdir())

    def delivered(self):
        messages = []
        for file in self.files():
            header, _, body = file.read_text(encoding="utf-8").partition("\n\n")
            to = header.removeprefix("To: ")
            messages.append({"id": file.stem, "to": to, "body": body.removesuffix("\n")})
        return messages

    def test_it_writes_one_file_per_message(self):
        backend = self.make_backend()
        first = backend.send(to=TO, body=BODY)
        second = backend.send(to=OTHER_TO, body=OTHER_BODY)
        self.assertEqual(
            [file.name for file in self.files()],
            sorted([f"{first.message_id}.sms", f"{second.message_id}.sms"]),
        )

    def test_it_lets_only_the_owner_read_the_files(self):
        self.addCleanup(os.umask, os.umask(0o022))  # a usual umask, which would allow 0644
        self.make_backend().send(to=TO, body=BODY)
        [file] = self.files()
        self.assertEqual(stat.S_IMODE(file.stat().st_mode), 0o600)

    def test_it_reports_an_unwritable_path_in_french(self):
        blocker = self.tmp / "un-fichier"
        blocker.write_text("a file where the SMS folder should be\n")
        with override_settings(SMS_FILE_PATH=str(blocker / "sms")):
            with self.assertRaises(PermanentError) as caught:
                self.make_backend().send(to=TO, body=BODY)
        message = caught.exception.message
        self.assertTrue(message.startswith("Impossible d'écrire le SMS dans "), message)
        self.assertIn(str(blocker / "sms"), message)
        self.assertNotIn(PASSWORD, message)


@contextmanager
def a_refusing_port():
    """A loopback port bound but not listening: connections to it are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class TwilioTestCase(SimpleTestCase):
    """Serves the Twilio double for the class and points the real client at it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.twilio = FakeTwilio()
        cls.twilio.start()
        cls.addClassCleanup(cls.twilio.stop)

    def setUp(self):
        self.twilio.reset()
        self.enterContext(self.twilio.settings(TWILIO_FROM=SENDER, SMS_TIMEOUT=5))
        # A proxy set in the environment must not take the loopback requests elsewhere.
        self.enterContext(mock.patch.dict(os.environ, {"NO_PROXY": "127.0.0.1"}))

    def send(self, to: str = TO, body: str = BODY) -> SentSms:
        return get_backend(TWILIO).send(to=to, body=body)


class TwilioSmsBackendTests(SmsBackendContract, TwilioTestCase):
    name = "twilio"

    def delivered(self):
        return [
            {"id": m["sid"], "to": m["to"], "body": m["body"]}
            for m in self.twilio.messages.values()
        ]

    def test_it_goes_through_the_double_with_basic_auth(self):
        sent = self.send()
        [request] = self.twilio.requests
        self.assertEqual(request["path"], f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
        self.assertEqual(request["auth"], (ACCOUNT_SID, AUTH_TOKEN))
        self.assertEqual(request["form"]["To"], TO)
        self.assertEqual(request["form"]["Body"], BODY)
        self.assertRegex(sent.message_id, r"^SM[0-9a-f]{32}$")
        self.assertEqual(sent.status, "queued")

    def test_it_sends_from_twilio_from(self):
        self.send()
        [request] = self.twilio.requests
        self.assertEqual(request["form"]["From"], SENDER)
        self.assertNotIn("MessagingServiceSid", request["form"])

    @override_settings(TWILIO_MESSAGING_SERVICE_SID=MESSAGING_SERVICE_SID)
    def test_it_prefers_the_messaging_service_to_a_from_number(self):
        sent = self.send()
        [request] = self.twilio.requests
        self.assertEqual(request["form"]["MessagingServiceSid"], MESSAGING_SERVICE_SID)
        self.assertNotIn("From", request["form"])
        self.assertEqual(sent.status, "accepted")

    def test_it_never_logs_the_password(self):
        self.twilio.fail_next(400, 21211, f"The 'To' number {TO} is not a valid phone number.")
        with self.assertLogs(level=logging.DEBUG) as logs:
            with self.assertRaises(PermanentError):
                self.send()
            self.send()
        self.assertTrue(any("SMS accepted by Twilio" in line for line in logs.output))
        for record in logs.records:
            self.assertNotIn(PASSWORD, record.getMessage())

    def test_it_points_regional_twilio_hosts_at_the_base_url(self):
        # TWILIO_REGION or TWILIO_EDGE in the environment make the client use such hosts.
        client = BaseUrlHttpClient("http://127.0.0.1:8/", timeout=1)
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        with mock.patch.object(TwilioHttpClient, "request", autospec=True) as parent:
            for host in ("api.twilio.com", "api.dublin.ie1.twilio.com"):
                client.request("POST", f"https://{host}{path}")
        self.assertEqual(
            [call.args[2] for call in parent.call_args_list],
            [f"http://127.0.0.1:8{path}"] * 2,
        )


class TwilioErrorTests(TwilioTestCase):
    # Code, Twilio's English text, what the administrator reads.
    REFUSALS = [
        (21211, f"The 'To' number {TO} is not a valid phone number.", "numéro invalide"),
        (21614, "'To' number is not a valid mobile number", "pas un numéro de GSM"),
        (21610, "Attempt to send to unsubscribed recipient", "a refusé les SMS"),
        (
            21408,
            "Permission to send an SMS has not been enabled for the region indicated by the "
            f"'To' number: {TO}",
            "pays non autorisé",
        ),
    ]

    def test_it_stops_on_a_number_twilio_refuses(self):
        for code, english, french in self.REFUSALS:
            with self.subTest(code=code):
                self.twilio.fail_next(400, code, english)
                with self.assertRaises(PermanentError) as caught:
                    self.send()
                message = caught.exception.message
                self.assertTrue(message.startswith("SMS refusé par Twilio : "), message)
                self.assertIn(french, message)
                self.assertIn(f"({code})", message)
                self.assertNotIn(english, message)
                self.assertNotIn(PASSWORD, message)
        self.assertEqual(self.twilio.messages, {})

    @override_settings(TWILIO_AUTH_TOKEN="ffffffffffffffffffffffffffffffff")
    def test_it_stops_on_refused_credentials(self):
        with self.assertRaises(PermanentError) as caught:
            self.send()
        message = caught.exception.message
        self.assertIn("identifiants Twilio refusés", message)
        self.assertIn("(20003)", message)
        self.assertNotIn("ffffffff", message)
        [request] = self.twilio.requests
        self.assertEqual(request["auth"], (ACCOUNT_SID, "ffffffffffffffffffffffffffffffff"))
        self.assertEqual(self.twilio.messages, {})

    def test_it_retries_when_twilio_is_busy_or_down(self):
        for status in (429, 500, 503):
            with self.subTest(status=status):
                self.twilio.fail_next(status)
                with self.assertRaises(TransientError) as caught:
                    self.send()
                message = caught.exception.message
                self.assertIn(f"HTTP {status}", message)
                self.assertIn("nouvel essai automatique", message)
        self.assertEqual(len(self.twilio.requests), 3)
        self.assertEqual(self.twilio.messages, {})

    @override_settings(SMS_TIMEOUT=1)
    def test_it_retries_when_twilio_answers_too_late(self):
        self.twilio.stall_next(seconds=10)
        started = time.monotonic()
        with self.assertRaises(TransientError) as caught:
            self.send()
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn("n'a pas répondu à temps", caught.exception.message)
        self.assertEqual(len(self.twilio.requests), 1)  # it arrived: the answer was late

    def test_it_retries_when_the_connection_is_refused(self):
        with a_refusing_port() as port:
            with self.settings(TWILIO_API_BASE_URL=f"http://127.0.0.1:{port}"):
                with self.assertRaises(TransientError) as caught:
                    self.send()
        self.assertIn("Twilio est injoignable", caught.exception.message)
        self.assertEqual(self.twilio.requests, [])


class TwilioDoubleTests(TwilioTestCase):
    def test_it_redacts_a_body_through_the_real_client(self):
        sent = self.send()
        message = get_backend(TWILIO).client.messages(sent.message_id).update(body="")
        self.assertEqual(message.body, "")
        self.assertEqual(self.twilio.messages[sent.message_id]["body"], "")
        redaction = self.twilio.requests[-1]
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sent.message_id}.json"
        self.assertEqual(redaction["path"], path)
        self.assertEqual(redaction["form"], {"Body": ""})
        self.assertEqual(redaction["auth"], (ACCOUNT_SID, AUTH_TOKEN))


class SendSmsTests(SimpleTestCase):
    def test_it_sends_through_the_configured_backend(self):
        with override_settings(SMS_BACKEND="provisioning.sms.console.SmsBackend", DEBUG=True):
            with redirect_stdout(io.StringIO()) as stdout:
                sent = send_sms(to=TO, body=BODY)
        self.assertIn(f"--- SMS {sent.message_id} à {TO}\n{BODY}\n", stdout.getvalue())
        self.assertEqual(locmem.outbox, [])

    def test_it_masks_all_but_the_ends_of_a_number(self):
        # The rule of Member.masked_phone and the emails: one rule everywhere.
        self.assertEqual(mask_phone(TO), "+32 4•• •• •• 56")
        self.assertEqual(mask_phone("+33612345678"), "+33 6•• •• •• 78")
        self.assertEqual(mask_phone(""), "")


class PasswordSmsTests(SimpleTestCase):
    ADDRESS = "pierre@octopus-soignies.be"
    LONG_LOCAL_PART = "marie-christine.van-den-bossche.tresoriere.section-soignies-2026"
    LONG_DOMAIN = (
        "section-locale-des-membres-benevoles-de-l-association.octopus-soignies-hainaut.be"
    )

    def test_it_names_the_address_and_the_password_on_a_creation(self):
        self.assertEqual(
            password_sms(kind="create", address=self.ADDRESS, password=PASSWORD),
            "Octopus-Soignies : mot de passe de pierre@octopus-soignies.be : "
            "k7dmx-3qp9w-teh4n-c2rfa (conservé nulle part, gardez ce SMS)",
        )

    def test_it_names_the_address_and_the_password_on_a_reset(self):
        self.assertEqual(
            password_sms(kind="reset", address=self.ADDRESS, password=PASSWORD),
            "Octopus-Soignies : nouveau mot de passe de pierre@octopus-soignies.be : "
            "k7dmx-3qp9w-teh4n-c2rfa (conservé nulle part, gardez ce SMS)",
        )

    def test_it_keeps_a_64_character_local_part_in_one_segment(self):
        self.assertEqual(len(self.LONG_LOCAL_PART), 64)
        address = f"{self.LONG_LOCAL_PART}@octopus-soignies.be"
        for kind in ("create", "reset"):
            with self.subTest(kind=kind):
                text = password_sms(kind=kind, address=address, password=PASSWORD)
                self.assertTrue(is_gsm7(text), text)
                self.assertLessEqual(len(text), 160)
                self.assertIn(address, text)
                self.assertIn(PASSWORD, text)

    def test_it_falls_back_to_a_text_without_an_address_too_long(self):
        address = f"{self.LONG_LOCAL_PART}@{self.LONG_DOMAIN}"
        for kind in ("create", "reset"):
            with self.subTest(kind=kind):
                text = password_sms(kind=kind, address=address, password=PASSWORD)
                self.assertTrue(is_gsm7(text), text)
                self.assertLessEqual(len(text), 160)
                self.assertIn(PASSWORD, text)
                self.assertNotIn(self.LONG_DOMAIN, text)

    def test_it_falls_back_when_the_address_is_not_gsm7(self):
        text = password_sms(
            kind="create", address="françois@octopus-soignies.be", password=PASSWORD
        )
        self.assertTrue(is_gsm7(text), text)
        self.assertIn(PASSWORD, text)

    def test_it_never_html_escapes_the_text(self):
        text = password_sms(kind="create", address="o'brien@octopus-soignies.be", password=PASSWORD)
        self.assertIn("o'brien@octopus-soignies.be", text)


class Gsm7Tests(SimpleTestCase):
    def test_it_accepts_the_french_letters_of_the_basic_set(self):
        self.assertTrue(is_gsm7("Élève à Soignies, où est-il ? Ç É é è ù à\n"))

    def test_it_rejects_the_characters_that_switch_to_ucs2(self):
        for char in "çêâîôûœ’«»\u00a0":
            with self.subTest(char=char):
                self.assertFalse(is_gsm7(f"mot {char} passe"))

    def test_it_counts_160_characters_a_segment(self):
        self.assertTrue(fits_one_segment("a" * 160))
        self.assertFalse(fits_one_segment("a" * 161))
        self.assertFalse(fits_one_segment("é" * 100 + "ç"))
