"""docs/api_example.py against a live server: the mailboxes of a CSV created through HTTP,
a bad row refused in French, a second run creating nothing twice, the SMS followed."""

import contextlib
import importlib.util
import io
import os
import tempfile
from pathlib import Path
from unittest import mock

import requests
from django.test import LiveServerTestCase

from accounts.models import Mailbox
from provisioning.models import ProvisioningJob

from ..base import deliver, the_domain
from .helpers import make_token

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "api_example.py"
CSV = """nom,adresse,email personnel,gsm
Pierre Dupont,pierre,pierre@example.org,+32 470 12 34 56
Marie Lambert,,marie@example.org,0470 65 43 21
Jean Faux,jean,jean@example.org,0470
"""


def load_script():
    spec = importlib.util.spec_from_file_location("api_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ExampleScriptTests(LiveServerTestCase):
    databases = {"default", "mailserver"}

    def setUp(self) -> None:
        the_domain()
        self.script = load_script()
        self.csv = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)
        self.csv.write(CSV)
        self.csv.close()
        self.addCleanup(os.unlink, self.csv.name)
        self.env = mock.patch.dict(os.environ, {"OCTOPUS_API_TOKEN": make_token()})
        self.env.start()
        self.addCleanup(self.env.stop)

    def run_script(self, *args) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = self.script.main([self.csv.name, "--url", f"{self.live_server_url}/api/v1/",
                                     *args])  # fmt: skip
        return code, out.getvalue()

    def test_it_creates_the_mailboxes_of_a_csv_once_and_follows_them(self):
        code, output = self.run_script("--wait", "0")
        self.assertEqual(code, 1, output)  # the bad row
        self.assertIn("pierre@octopus-soignies.be : créée, envoi n°", output)
        self.assertIn("marie.lambert@octopus-soignies.be : créée", output)
        self.assertIn("Jean Faux : refusé (400) — Données refusées", output)
        self.assertIn("3 ligne(s) : 2 acceptée(s), 1 refusée(s)", output)
        code, again = self.run_script("--wait", "0")
        self.assertEqual(again.count("(déjà demandée)"), 2, again)
        self.assertEqual((Mailbox.objects.count(), ProvisioningJob.objects.count()), (2, 2))
        jobs = [deliver(job) for job in ProvisioningJob.objects.all()]
        with requests.Session() as session, contextlib.redirect_stdout(io.StringIO()) as out:
            session.headers["Authorization"] = f"Bearer {os.environ['OCTOPUS_API_TOKEN']}"
            urls = [f"{self.live_server_url}/api/v1/jobs/{job.pk}/" for job in jobs]
            failures = self.script.follow(session, urls, timeout=0.1)
        self.assertEqual(failures, 0)
        self.assertEqual(out.getvalue().count("SMS envoyé le"), 2, out.getvalue())
