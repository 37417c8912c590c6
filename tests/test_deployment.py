"""docker-compose.yml validates and holds what a deployment needs (no engine runs here)."""

import io
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import yaml
from django.core.management import call_command
from django.test import SimpleTestCase, TestCase

from .services import require_binary

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"postgres", "redis", "migrate", "web", "worker", "beat", "mailpit"}


def requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


class ComposeTests(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        require_binary("docker-compose", "docker-compose")
        cls.compose = shutil.which("docker-compose")

    def config(self, *profiles: str) -> dict:
        options = [arg for profile in profiles for arg in ("--profile", profile)]
        done = subprocess.run(
            [self.compose, "-f", str(ROOT / "docker-compose.yml"), *options, "config"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return yaml.safe_load(done.stdout)

    def test_it_validates(self):
        done = subprocess.run(
            [self.compose, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        self.assertEqual(done.returncode, 0, done.stderr)

    def test_it_runs_every_part_with_a_health_check(self):
        services = self.config("dev")["services"]
        self.assertEqual(set(services), SERVICES)
        for name in SERVICES - {"migrate"}:
            with self.subTest(service=name):
                self.assertIn("test", services[name]["healthcheck"])

    def test_it_keeps_mailpit_for_development(self):
        services = self.config()["services"]
        self.assertEqual(services["mailpit"]["profiles"], ["dev"])
        self.assertEqual([n for n, s in services.items() if "profiles" in s], ["mailpit"])

    def test_it_reads_secrets_from_files_and_never_from_plain_variables(self):
        web = self.config()["services"]["web"]
        environment = web["environment"]
        for secret in ("DJANGO_SECRET_KEY", "DATABASE_URL", "TWILIO_AUTH_TOKEN", "EMAIL_URL"):
            with self.subTest(secret=secret):
                self.assertNotIn(secret, environment)
                self.assertTrue(environment[f"{secret}_FILE"].startswith("/run/secrets/"))
        self.assertEqual(environment["DJANGO_DEBUG"], "false")

    def test_it_migrates_before_the_web_app_and_the_worker_start(self):
        services = self.config()["services"]
        for name in ("web", "worker", "beat"):
            with self.subTest(service=name):
                condition = services[name]["depends_on"]["migrate"]["condition"]
                self.assertEqual(condition, "service_completed_successfully")


class ImageTests(SimpleTestCase):
    def test_it_installs_from_the_constraint_file_that_pins_every_dependency(self):
        dockerfile = (ROOT / "Dockerfile").read_text()
        self.assertIn("pip install --constraint constraints.txt .", dockerfile)
        pinned = {
            requirement_name(line): line
            for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line and not line.startswith("#")
        }
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        for requirement in project["dependencies"]:
            with self.subTest(requirement=requirement):
                self.assertIn("==", pinned.get(requirement_name(requirement), ""))


class MigrationTests(TestCase):
    databases = {"default", "mailserver"}

    def test_it_has_a_migration_for_every_model_change(self):
        # A choice or a field changed without its migration would reach production unmigrated.
        out = io.StringIO()
        try:
            call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
        except SystemExit:
            self.fail(f"a model change has no migration:\n{out.getvalue()}")
