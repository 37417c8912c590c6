"""A real `celery worker` process on the test databases, which a fault drill may SIGKILL.

tests/celeryworker.py runs a worker thread inside the test process; a drill that kills the
worker needs its own process (main process and pool child, in their own process group),
configured as production is: the Twilio backend pointed at the test double, the test
databases, a real broker. It runs octopus_mail.settings, not the test settings.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connections

from provisioning import mailserver

CELERY = Path(sys.executable).with_name("celery")
ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 60  # seconds; Django and the checks load in 2-4 s here


def database_url(alias: str) -> str:
    """The URL of the test database behind `alias` (its NAME is the test database's now)."""
    db = connections[alias].settings_dict
    assert db["ENGINE"] == "django.db.backends.postgresql", "the drills run on PostgreSQL"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgresql://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_env(*, broker_url: str, twilio, folder: Path, **settings) -> dict:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CELERY_", "DJANGO_", "TWILIO_", "EMAIL_", "SMS_", "CACHE_"))
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "octopus_mail.settings",
            # DEBUG on only for the email written to a folder (E001 refuses it otherwise).
            "DJANGO_DEBUG": "true",
            "DJANGO_SECRET_KEY": "tests-only-secret-key",
            "DATABASE_URL": database_url("default"),
            "MAILSERVER_DATABASE_URL": database_url(mailserver.ALIAS),
            "CELERY_BROKER_URL": broker_url,
            "SMS_BACKEND": "provisioning.sms.twilio.SmsBackend",
            "TWILIO_API_BASE_URL": twilio.base_url,
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_FROM": "OCTOPUS",
            "PUBLIC_BASE_URL": "http://127.0.0.1:9",  # the double posts no callbacks
            "EMAIL_URL": f"file://{folder / 'outbox'}",
            "DNS_NAMESERVERS": "127.0.0.1:9",
            "LOG_LEVEL": "INFO",
        }
    )
    env.update({name: str(value) for name, value in settings.items()})
    return env


class WorkerProcess:
    """`celery -A octopus_mail worker -P prefork --concurrency 1`; its log in `folder`."""

    def __init__(self, env: dict, folder: Path) -> None:
        self.env, self.log_path = env, folder / "worker.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        command = [
            str(CELERY), "-A", "octopus_mail", "worker", "-P", "prefork", "--concurrency", "1",
            "--loglevel", "INFO", "-n", f"drill-{os.getpid()}-{self.starts}@%h",
            "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker exited at start-up:\n{self.log(offset)}")
            if b" ready." in self.log_path.read_bytes()[offset:]:
                return
            time.sleep(0.1)
        raise AssertionError(f"the worker was not ready after {READY_TIMEOUT} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL to the main process and its pool child at once: nothing gets to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # a warm shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self, offset: int = 0) -> str:
        return self.log_path.read_bytes()[offset:].decode(errors="replace")[-4000:]
