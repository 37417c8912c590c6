"""Public pages' timing: does the time of the answer tell whether an address exists?

Issue #12: the forgotten-password page answered a known address in ~20 ms and an unknown
one in ~8 ms, because only the known path wrote and mailed inside the request. This posts
the forgotten-password page with a known and an unknown address, and the address request
page with a taken and a free address, interleaved (ABBA), through django.test.Client, in
scratch PostgreSQL databases, with production's settings. Between two posts, untimed, the
requests are deleted and the throttle's counters cleared: every post finds the same state.

Two modes: `broker` (production: Redis as the broker, nobody consumes; the request only
rings the doorbell) and `eager` (no broker, as `make run`: the task runs inside the request,
provisioning.W001 warns about it in production), where the email is sent inside the request
over SMTP to a local sink.

Run: .venv/bin/python bench/public_timing.py
     BENCH_PUBLIC_SAMPLES=40 BENCH_PUBLIC_MODES=broker,eager
"""

import os
import statistics
import sys
import time
import warnings
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# WhiteNoise warns that `collectstatic` never ran: the pages measured serve no static file.
warnings.filterwarnings("ignore", message="No directory at")

from bench import common, loopback  # noqa: E402
from bench.common import env_int, percentile, row, say  # noqa: E402

BENCH = "public"
WARM_UP = 3
TOLERANCE = 0.10  # medians within 10 %
PASSWORD_URL = "/demande/mot-de-passe/"
ADDRESS_URL = "/demande/adresse/"
ASKED = {
    "full_name": "Marie Lambert",
    "personal_email": "marie@example.org",
    "phone": "0470 98 76 54",
    "message": "Bonjour.",
}
# (label, url, data of path A, data of path B): A is the secret's "yes", B its "no".
PAIRS = [
    ("forgotten password: known vs unknown address", PASSWORD_URL,
     {"address": "pierre@octopus-soignies.be"}, {"address": "paul@octopus-soignies.be"}),
    ("address request: taken vs free address", ADDRESS_URL,
     {**ASKED, "local_part": "pierre"}, {**ASKED, "local_part": "paul"}),
]  # fmt: skip


def create_pierre() -> None:
    """The one existing mailbox, written directly (no job: nothing here needs its SMS)."""
    from django.conf import settings

    from accounts.models import Domain, Mailbox, Member

    member = Member.objects.create(
        full_name="Pierre Dupont", personal_email="pierre@example.org", phone="+32470123456"
    )
    domain = Domain.objects.get(name=settings.MAIL_DOMAIN)
    Mailbox.objects.create(local_part="pierre", domain=domain, member=member, status="active")


def reset_state() -> None:
    """Every post finds no request and fresh throttle counters (untimed)."""
    from django.core.cache import cache

    from memberrequests.models import MemberRequest

    MemberRequest.objects.all().delete()
    cache.clear()


def post(client, url: str, data: dict) -> tuple[float, int, int]:
    """(seconds, queries, status) of one post."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    reset_state()
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        response = client.post(url, data)
        elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return elapsed, len(queries), response.status_code


def measure_pair(client, url: str, data_a: dict, data_b: dict, samples: int) -> dict:
    for _ in range(WARM_UP):
        post(client, url, data_a)
        post(client, url, data_b)
    times: dict[str, list[float]] = {"a": [], "b": []}
    queries: dict[str, set[int]] = {"a": set(), "b": set()}
    for n in range(samples):
        order = ("a", "b") if n % 2 == 0 else ("b", "a")  # ABBA: drift hits both alike
        for side in order:
            elapsed, count, _status = post(client, url, data_a if side == "a" else data_b)
            times[side].append(elapsed * 1000)
            queries[side].add(count)
    reset_state()
    return {
        side: {
            "median": statistics.median(times[side]),
            "p90": percentile(times[side], 90),
            "min": min(times[side]),
            "max": max(times[side]),
            "queries": sorted(queries[side]),
        }
        for side in ("a", "b")
    }


def set_eager(eager: bool) -> None:
    from celery import current_app

    current_app.conf.task_always_eager = eager


def main() -> None:
    samples = env_int("BENCH_PUBLIC_SAMPLES", 40)
    modes = [m for m in (os.environ.get("BENCH_PUBLIC_MODES") or "broker,eager").split(",") if m]
    say(f"[{common.stamp()}] public pages: {samples} samples per path, modes {', '.join(modes)}, "
        f"load average {common.load_average()}")  # fmt: skip
    results: dict[str, dict] = {}
    with ExitStack() as stack:
        folder = stack.enter_context(common.temp_dir("bench-public-"))
        app_db, mail_db = stack.enter_context(
            loopback.scratch_databases("bench_public_app", "bench_public_mail")
        )
        stack.enter_context(loopback.redis_database())
        twilio = stack.enter_context(common.FakeTwilio())
        smtp = stack.enter_context(loopback.SmtpSink(folder / "outbox"))
        env = common.bench_env(app_db=app_db, mail_db=mail_db, twilio=twilio, smtp=smtp)
        env["PUBLIC_BASE_URL"] = "http://testserver"
        common.django_setup(env, folder / "bench.log")
        common.migrate()
        create_pierre()
        from django.test import Client

        client = Client()
        for mode in modes:
            set_eager(mode == "eager")
            sent_before = smtp.count
            results[mode] = {
                label: measure_pair(client, url, data_a, data_b, samples)
                for label, url, data_a, data_b in PAIRS
            }
            results[mode]["emails"] = smtp.count - sent_before
        set_eager(False)
    common.record(BENCH, report(results, samples))


def report(results: dict, samples: int) -> list[dict]:
    say(f"\n== Public pages: time of a post, ms ({samples} samples a path; A = known/taken, "
        "B = unknown/free)")  # fmt: skip
    rows = []
    for mode, pairs in results.items():
        say(f"  mode {mode} ({pairs['emails']} emails sent inside the requests)")
        for label, _url, _a, _b in PAIRS:
            a, b = pairs[label]["a"], pairs[label]["b"]
            ratio = a["median"] / b["median"]
            same_queries = a["queries"] == b["queries"]
            met = abs(ratio - 1) <= TOLERANCE and same_queries
            target = "medians within 10 %, same queries"
            if mode == "eager":  # informative: production warns without a broker
                target, met = "none: no broker, the task runs in the request (W001)", None
            say(f"    {label:46} A median {a['median']:5.1f} p90 {a['p90']:5.1f} "
                f"(min {a['min']:.1f} max {a['max']:.1f}) queries {a['queries']} | "
                f"B median {b['median']:5.1f} p90 {b['p90']:5.1f} "
                f"(min {b['min']:.1f} max {b['max']:.1f}) queries {b['queries']} | "
                f"ratio A/B {ratio:.2f}")  # fmt: skip
            rows.append(
                row(f"{mode}: {label}",
                    f"{a['median']:.1f} / {b['median']:.1f} ms median (p90 {a['p90']:.1f} / "
                    f"{b['p90']:.1f}), ratio {ratio:.2f}, queries {a['queries']} / "
                    f"{b['queries']}",
                    target, met)
            )  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
