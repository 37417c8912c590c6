"""What the benchmarks share: settings and Django, figures and results records, mailboxes
and the SMS the Twilio double received. The services they start are in `loopback`, the
Celery workers in `workers`; every resource cleans up in `finally`, and on SIGTERM too.
"""

import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.loopback import REDIS_URL, SmtpSink, close_connections  # noqa: E402
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio  # noqa: E402

__all__ = ("FakeTwilio", "close_connections")


def _stop_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds the context managers: workers, databases, Redis


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _stop_on_sigterm)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def say(text: str = "") -> None:
    print(text, flush=True)


# --- figures ------------------------------------------------------------------------------


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> dict:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": sys.version.split()[0],
    }


def git_commit() -> str:
    """The short commit, marked when the work tree differs from it (read-only git calls)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    dirty = subprocess.run(["git", "diff-index", "--quiet", "HEAD", "--"], cwd=ROOT).returncode
    return f"{commit} + uncommitted changes" if dirty else commit


def record(bench: str, rows: list[dict], notes: list[str] | None = None) -> None:
    """Keep this benchmark's figures for bench/run_all.py, which writes bench/RESULTS.md.

    A row: {"figure": ..., "value": ..., "target": "" or text, "met": True/False/None}.
    """
    folder = os.environ.get("BENCH_RESULTS_DIR")
    if not folder:
        return
    data = {"bench": bench, "rows": rows, "notes": notes or [], "load_end": load_average()}
    Path(folder, f"{bench}.json").write_text(json.dumps(data, indent=1, default=str))


def row(figure: str, value: str, target: str = "", met: bool | None = None) -> dict:
    return {"figure": figure, "value": value, "target": target, "met": met}


# --- environment and Django ---------------------------------------------------------------


@contextmanager
def temp_dir(prefix: str):
    """A temporary folder for logs and outboxes; BENCH_KEEP=1 keeps it to read them after."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if os.environ.get("BENCH_KEEP"):
            say(f"  (kept {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


def bench_env(*, app_db: str, mail_db: str, twilio: FakeTwilio, smtp: SmtpSink, **extra) -> dict:
    """The environment of the bench process and of its workers: production settings (DEBUG
    off, the Twilio backend, SMTP) pointed at the Twilio double and the SMTP sink."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        # BENCH_SETTINGS: another settings module, to try a change before making it.
        "DJANGO_SETTINGS_MODULE": os.environ.get("BENCH_SETTINGS", "octopus_mail.settings"),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-not-used-anywhere-else",
        "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": app_db,
        "MAILSERVER_DATABASE_URL": mail_db,
        # BENCH_BROKER_URL: another broker, e.g. amqp://guest:guest@127.0.0.1:5672/VHOST.
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL") or REDIS_URL,
        "SMS_BACKEND": "provisioning.sms.twilio.SmsBackend",
        "TWILIO_API_BASE_URL": twilio.base_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM": "OCTOPUS",
        "PUBLIC_BASE_URL": "http://127.0.0.1:9",  # Twilio's callbacks: the double posts none
        "EMAIL_URL": smtp.url,
        # Nothing asks the DNS in these runs; if something did, it would fail fast on loopback.
        "DNS_NAMESERVERS": "127.0.0.1:9",
        "DNS_TIMEOUT": "1",
        "DNS_LIFETIME": "1",
        "LOG_LEVEL": "INFO",
    }
    for name in ("TWILIO_MESSAGING_SERVICE_SID", "EMAIL_BACKEND", "TWILIO_EDGE", "TWILIO_REGION"):
        env.pop(name, None)
    env.update({key: str(value) for key, value in extra.items()})
    return env


def django_setup(env: dict, log_file: Path) -> None:
    """Configure this process from `env`; its own log lines go to `log_file`, not the screen."""
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    # Only the errors of the Twilio double's threads would reach the screen otherwise.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("migrate", database="mailserver", verbosity=0, interactive=False)


def wait_until(predicate, *, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def stamp() -> str:
    return datetime.now().strftime("%H:%M:%S")


# --- mailboxes and the SMS the double received ----------------------------------------------


def create_mailboxes(count: int, *, prefix: str, first: int = 0, phone=None) -> list[int]:
    """`count` mailboxes through services.mailbox_create; their creation jobs' ids."""
    from django.conf import settings

    from accounts.models import Domain
    from audit.services import Actor
    from provisioning import services

    domain = Domain.objects.get(name=settings.MAIL_DOMAIN)
    phone = phone or (lambda i: f"+32470{i:06d}")
    return [
        services.mailbox_create(
            local_part=f"{prefix}{i:05d}",
            domain=domain,
            full_name=f"Membre {prefix} {i}",
            personal_email=f"{prefix}{i}@example.org",
            phone=phone(i),
            actor=Actor.system("bench"),
        ).job.pk
        for i in range(first, first + count)
    ]


def sms_by_address(twilio: FakeTwilio) -> dict[str, list[str]]:
    """The passwords the double accepted, by the address named in the text, oldest first."""
    import re

    from provisioning import passwords

    group = f"[{passwords.ALPHABET}]{{{passwords.GROUP_LENGTH}}}"
    shape = re.compile(rf"\b({group}(?:-{group}){{{passwords.GROUPS - 1}}})\b")
    address = re.compile(r"\b([a-z0-9._-]+@[a-z0-9.-]+\.[a-z]+)\b")
    found: dict[str, list[str]] = {}
    messages = list(twilio.messages.values())  # one C-level copy: safe beside its threads
    for body in (message["body"] for message in messages):
        found.setdefault(address.search(body).group(1), []).append(shape.search(body).group(1))
    return found


def stored_hashes() -> dict[str, str]:
    from django.db import connections

    from provisioning import mailschemas, mailserver

    schema = mailschemas.current()
    with connections[mailserver.ALIAS].cursor() as cursor:
        cursor.execute(f"SELECT {schema.address_column}, password FROM {schema.users_table}")
        return dict(cursor.fetchall())
