"""Admin at scale: time and SQL queries of the admin's pages with 10,000 mailboxes and
30,000 jobs.

The rows are written with bulk_create (a bench, not the services), three jobs per mailbox
in the states the list shows, each mailbox's `last_job` set to its newest as the services
do, in scratch PostgreSQL databases. The pages are asked through django.test.Client, logged
in as a superuser whose TOTP device is verified in the session (as django_otp's login does).
The same pages are counted at 10 and at 100 mailboxes first: the number of queries must not
grow with the rows. Each figure is printed beside the one measured before `last_job` and the
trigram search (PREVIOUS).

Run: .venv/bin/python bench/admin_scale.py
     BENCH_ADMIN_MAILBOXES=10000 BENCH_ADMIN_SMALL=100 BENCH_ADMIN_RUNS=11
"""

import statistics
import sys
import time
import warnings
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# WhiteNoise warns that `collectstatic` never ran: the pages measured serve no static file.
warnings.filterwarnings("ignore", message="No directory at")

from bench import common, loopback  # noqa: E402
from bench.common import env_int, row, say  # noqa: E402

BENCH = "admin"
TARGET_MS = 100
# Medians at 10,000 mailboxes before Mailbox.last_job (bench/RESULTS.md, run on 12b830a;
# the jobs list, first measured on f7039e3).
PREVIOUS = {
    "mailbox list, first page": 114, "mailbox list, search « martin »": 168,
    "mailbox list, filter SMS not delivered": 223, "mailbox page (3 jobs)": 39,
    "admin index": 172, "jobs list, first page": 157,
}  # fmt: skip
FIRST_NAMES = ["Pierre", "Marie", "Luc", "Anne", "Paul", "Julie", "Marc", "Sophie", "Jean",
               "Claire", "Louis", "Emma", "Hugo", "Léa", "Noah", "Chloé"]  # fmt: skip
LAST_NAMES = ["Dupont", "Martin", "Lambert", "Dubois", "Peeters", "Janssens", "Maes", "Jacobs",
              "Mertens", "Willems", "Claes", "Goossens", "Wouters", "Simon", "Laurent",
              "Leroy", "Renard", "Lejeune", "Denis", "Collard"]  # fmt: skip
# The last job of each mailbox, cycling: mostly delivered, some of every other outcome.
LAST_JOB = (
    [{"state": "done", "sms_status": "delivered"}] * 16
    + [{"state": "done", "sms_status": "undelivered", "sms_error_code": 30003}]
    + [{"state": "done", "sms_status": "sent"}]
    + [{"state": "failed", "last_error": "SMS refusé par Twilio : numéro invalide (21211)."}]
    + [{"state": "queued"}]
)


def pages(mailbox_pk: int) -> list[tuple[str, str]]:
    return [
        ("mailbox list, first page", "/admin/accounts/mailbox/"),
        ("mailbox list, search « martin »", "/admin/accounts/mailbox/?q=martin"),
        ("mailbox list, filter SMS not delivered", "/admin/accounts/mailbox/?sms=not_delivered"),
        ("mailbox page (3 jobs)", f"/admin/accounts/mailbox/{mailbox_pk}/change/"),
        ("admin index", "/admin/"),
        ("jobs list, first page", "/admin/provisioning/provisioningjob/"),
    ]


def add_rows(first: int, count: int) -> None:
    """`count` members, mailboxes and three jobs each, numbered from `first`."""
    from django.conf import settings
    from django.utils import timezone

    from accounts.models import Domain, Mailbox, Member
    from provisioning.models import ProvisioningJob

    domain = Domain.objects.get(name=settings.MAIL_DOMAIN)
    numbers = range(first, first + count)
    names = {i: (FIRST_NAMES[i % 16], LAST_NAMES[(i // 16) % 20]) for i in numbers}
    members = Member.objects.bulk_create(
        [
            Member(
                full_name=f"{names[i][0]} {names[i][1]}",
                personal_email=f"membre{i}@example.org",
                phone=f"+32470{i:06d}",
            )
            for i in numbers
        ],
        batch_size=2000,
    )
    statuses = ["active"] * 18 + ["pending", "disabled"]
    mailboxes = Mailbox.objects.bulk_create(
        [
            Mailbox(
                local_part=f"{names[i][0]}.{names[i][1]}{i}".lower().replace("é", "e"),
                domain=domain,
                member=member,
                status=statuses[i % 20],
            )
            for i, member in zip(numbers, members, strict=True)
        ],
        batch_size=2000,
    )
    now = timezone.now()
    jobs = []
    for i, mailbox in zip(numbers, mailboxes, strict=True):
        start = now - timedelta(days=365 - i % 300)
        done = {"state": "done", "sms_status": "delivered", "email_status": "sent"}
        for n, fields in enumerate([done, done, LAST_JOB[i % len(LAST_JOB)]]):
            moment = start + timedelta(days=60 * n)
            jobs.append(
                ProvisioningJob(
                    mailbox=mailbox,
                    kind="create" if n == 0 else "reset",
                    attempts=1,
                    sms_message_id=f"SM{i:012d}{n}",
                    sms_sent_at=moment if fields["state"] == "done" else None,
                    created_at=moment,
                    updated_at=moment,
                    finished_at=moment if fields["state"] in ("done", "failed") else None,
                    **fields,
                )
            )
    ProvisioningJob.objects.bulk_create(jobs, batch_size=5000)
    # What provisioning.services does in the job's transaction: the mailbox's newest job.
    for mailbox, newest in zip(mailboxes, jobs[2::3], strict=True):
        mailbox.last_job = newest
    Mailbox.objects.bulk_update(mailboxes, ["last_job"], batch_size=2000)


def logged_in_client(username: str = "bench-admin"):
    """A test client whose session holds a superuser with a verified TOTP device."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = get_user_model().objects.create_superuser(
        username, f"{username}@octopus-soignies.be", "Bench-admin-2026!"
    )
    device = TOTPDevice.objects.create(user=user, name="téléphone", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id  # what django_otp.login() stores
    session.save()
    return client


def measure(client, url: str, runs: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):  # warm-up: templates, translations, the query plans
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: not logged in?")
    times, cpu, counts, slowest = [], [], set(), 0.0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as queries:
            start, cpu_start = time.perf_counter(), time.thread_time()
            response = client.get(url)
            times.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - cpu_start)
        counts.add(len(queries))
        slowest = max([slowest] + [float(q["time"]) for q in queries.captured_queries])
    return {
        "median_ms": statistics.median(times) * 1000,
        "cpu_ms": statistics.median(cpu) * 1000,  # Django's own CPU: less shaken by the load
        "sql_ms": sum(float(q["time"]) for q in queries.captured_queries) * 1000,
        "queries": max(counts),
        "stable": len(counts) == 1,
        "slowest_query_ms": slowest * 1000,
        "bytes": len(response.content),
    }


def mailbox_with_three_jobs(offset: int) -> int:
    from accounts.models import Mailbox

    return Mailbox.objects.order_by("pk").values_list("pk", flat=True)[offset]


def main() -> None:
    big = env_int("BENCH_ADMIN_MAILBOXES", 10000)
    small = env_int("BENCH_ADMIN_SMALL", 100)
    runs = env_int("BENCH_ADMIN_RUNS", 11)
    sizes = sorted({10, small, big})
    say(f"[{common.stamp()}] admin: {', '.join(map(str, sizes))} mailboxes, {runs} runs per "
        f"page at {big}, load average {common.load_average()}")  # fmt: skip
    results: dict[int, dict[str, dict]] = {}
    with ExitStack() as stack:
        folder = stack.enter_context(common.temp_dir("bench-admin-"))
        app_db, mail_db = stack.enter_context(
            loopback.scratch_databases("bench_admin_app", "bench_admin_mail")
        )
        twilio = stack.enter_context(common.FakeTwilio())
        smtp = stack.enter_context(loopback.SmtpSink(folder / "outbox"))
        env = common.bench_env(app_db=app_db, mail_db=mail_db, twilio=twilio, smtp=smtp)
        env.pop("CELERY_BROKER_URL")  # nothing is enqueued here
        common.django_setup(env, folder / "bench.log")
        common.migrate()
        client = logged_in_client()
        done = 0
        for size in sizes:
            start = time.monotonic()
            add_rows(done, size - done)
            done = size
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # as autovacuum would after such an import
            say(f"  {size} mailboxes and {3 * size} jobs written in "
                f"{time.monotonic() - start:.1f} s")  # fmt: skip
            mailbox = mailbox_with_three_jobs(size // 2)
            # The small sizes only count queries: a few runs do.
            size_runs = runs if size == big else 3
            results[size] = {
                label: measure(client, url, size_runs) for label, url in pages(mailbox)
            }  # fmt: skip
    common.record(BENCH, report(results, sizes))


def report(results: dict, sizes: list[int]) -> list[dict]:
    big = sizes[-1]
    say(f"\n== Admin at scale (median of the runs at {big}; queries at "
        f"{' → '.join(map(str, sizes))} mailboxes)")  # fmt: skip
    rows = []
    for label, figures in results[big].items():
        counts = [results[size][label]["queries"] for size in sizes]
        constant = len(set(counts)) == 1 and all(results[s][label]["stable"] for s in sizes)
        fast = figures["median_ms"] < TARGET_MS
        # The previous figures hold at 10,000 mailboxes only.
        previous = f"; before: {PREVIOUS[label]} ms" if label in PREVIOUS and big == 10000 else ""
        say(f"  {label:40} {figures['median_ms']:4.0f} ms (Django CPU {figures['cpu_ms']:3.0f}, "
            f"SQL {figures['sql_ms']:3.0f})  queries {' → '.join(map(str, counts))}"
            f"{'' if constant else ' (GROWS)'}  slowest query {figures['slowest_query_ms']:.0f} ms"
            f"  ({figures['bytes'] // 1024} KiB){previous}")  # fmt: skip
        at = ", ".join(f"{count} at {size}" for count, size in zip(counts, sizes, strict=True))
        rows.append(
            row(label,
                f"{figures['median_ms']:.0f} ms (CPU {figures['cpu_ms']:.0f}, SQL "
                f"{figures['sql_ms']:.0f}), {figures['queries']} queries ({at}){previous}",
                f"< {TARGET_MS} ms, constant queries", constant and fast)
        )  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
