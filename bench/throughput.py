"""Throughput: N mailboxes provisioned through the services by real Celery worker processes.

PostgreSQL for both databases (scratch databases on 127.0.0.1:5432), Redis (a database of
its own), one `celery -A octopus_mail worker --concurrency 2 -P prefork` (two pool
processes) and the Twilio double on loopback, in this process. The requests are made as
the admin makes them (services.mailbox_create, one after the other) while the worker runs.

Prints the wall time and jobs per second, the latency from request to SMS accepted, the CPU
of one hash with the configured scheme, and the worker CPU per job outside the hash; then
single creations one at a time on the idle worker (commit to SMS accepted); then N jobs
queued while no worker runs (a bulk import's backlog) drained by a fresh worker, all hashes
in the table, SMS accepted and emails sent; then profiles a solo worker (sampling, CPU
clock) to say where that CPU goes, and counts its SQL statements per job.

Run: .venv/bin/python bench/throughput.py
     BENCH_N=1000 BENCH_PROFILE_N=200 BENCH_CONCURRENCY=2 MAILSERVER_PASSWORD_SCHEME=...
     BENCH_IDLE_N=20 BENCH_BACKLOG=1 BENCH_DB_PREFIX=bench_tp
     BENCH_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/VHOST (RabbitMQ instead of Redis)
"""

import os
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, loopback, workers  # noqa: E402
from bench.common import env_int, row, say  # noqa: E402

BENCH = os.environ.get("BENCH_NAME", "throughput")  # run_all's RabbitMQ run: throughput_rabbitmq
# Scratch databases; BENCH_DB_PREFIX keeps two runs on one PostgreSQL apart.
DATABASES = [f"{os.environ.get('BENCH_DB_PREFIX', 'bench_tp')}_{name}" for name in ("app", "mail")]
TARGET_JOBS_PER_S = 100
TARGET_CPU_MS = 10
TARGET_IDLE_P95_S = 1.0


class ProfiledWorker(workers.Worker):
    """A solo worker under cProfile (bench/profiled_worker.py), writing `profile_path`."""

    def __init__(self, env, log_path, profile_path):
        super().__init__(env, log_path, concurrency=1, name="profiled")
        self.profile_path = profile_path

    def command(self) -> list[str]:
        script = common.ROOT / "bench" / "profiled_worker.py"
        return [sys.executable, str(script), str(self.profile_path)]


def jobs_of(pks):
    from provisioning.models import ProvisioningJob

    return ProvisioningJob.objects.filter(pk__gte=min(pks), pk__lte=max(pks))


def settled(pks) -> int:
    from django.db.models import Q

    return (
        jobs_of(pks)
        .filter(Q(state="failed") | Q(state="done", email_status__in=["sent", "failed"]))
        .count()
    )


def wait_settled(pks, timeout: float) -> bool:
    return common.wait_until(lambda: settled(pks) == len(pks), timeout=timeout)


def hash_cpu_ms(runs: int = 30) -> float:
    from provisioning import passwords

    passwords.hash_password(passwords.generate())  # the backend loads on the first call
    samples = []
    for _ in range(runs):
        password = passwords.generate()
        start = time.thread_time()
        passwords.hash_password(password)
        samples.append(time.thread_time() - start)
    return statistics.median(samples) * 1000


def scheme() -> str:
    from django.conf import settings

    name = settings.MAILSERVER_PASSWORD_SCHEME
    parameters = {
        "SHA512-CRYPT": f"rounds={settings.MAILSERVER_SHA_CRYPT_ROUNDS}",
        "SHA256-CRYPT": f"rounds={settings.MAILSERVER_SHA_CRYPT_ROUNDS}",
        "BLF-CRYPT": f"cost={settings.MAILSERVER_BCRYPT_COST}",
        "ARGON2ID": f"m={settings.MAILSERVER_ARGON2_MEMORY_KIB} KiB, "
        f"t={settings.MAILSERVER_ARGON2_TIME_COST}",
    }
    return f"{name} ({parameters.get(name, '?')})"


def pg_sessions() -> int:
    """Connections ever opened to the two scratch databases (PostgreSQL 14+ counts them)."""
    import psycopg

    with psycopg.connect(loopback.PG_ADMIN_DSN) as connection:
        (count,) = connection.execute(
            "SELECT sum(sessions) FROM pg_stat_database WHERE datname = ANY(%s)",
            [DATABASES],
        ).fetchone()
    return int(count or 0)


def measure(n: int, worker: workers.Worker, figures: dict) -> list[int]:
    warm = common.create_mailboxes(4 * worker.concurrency, prefix="warm", phone=phone(9))
    if not wait_settled(warm, timeout=60):
        raise RuntimeError(f"warm-up jobs not done:\n{worker.log_tail()}")
    cpu_before, sessions_before = worker.cpu_seconds(), pg_sessions()
    start, thread_start = time.monotonic(), time.thread_time()
    pks = common.create_mailboxes(n, prefix="tp", phone=phone(1))
    figures["create_s"] = time.monotonic() - start
    figures["create_cpu_ms"] = (time.thread_time() - thread_start) / n * 1000
    say(f"  {n} requests made in {figures['create_s']:.1f} s; waiting for the worker")
    figures["all_settled"] = wait_settled(pks, timeout=max(120, n / 5))
    figures["worker_cpu_ms"] = (worker.cpu_seconds() - cpu_before) / n * 1000
    time.sleep(1)  # a session is counted when it ends; the worker's last ones end now or later
    figures["sessions_per_job"] = (pg_sessions() - sessions_before) / n
    return pks


def idle_latency(count: int, figures: dict) -> None:
    """One creation at a time on an idle worker: its commit to its SMS accepted."""
    from provisioning.models import ProvisioningJob

    latencies = []
    for i in range(count):
        [pk] = common.create_mailboxes(1, prefix="idle", first=i, phone=phone(4))
        job = ProvisioningJob.objects.filter(pk=pk, sms_sent_at__isnull=False)
        common.wait_until(job.exists, timeout=30, interval=0.01)
        created, sent = ProvisioningJob.objects.values_list("created_at", "sms_sent_at").get(pk=pk)
        latencies.append((sent - created).total_seconds() if sent else float("inf"))
    figures["idle_p50"] = common.percentile(latencies, 50)
    figures["idle_p95"] = common.percentile(latencies, 95)
    figures["idle_n"] = count


def backlog(env: dict, folder: Path, n: int, concurrency: int, figures: dict) -> None:
    """N jobs (and their doorbells) queued while no worker runs, then a worker drains them."""
    pks = common.create_mailboxes(n, prefix="bl", phone=phone(3))
    with workers.Worker(env, folder / "backlog-worker.log", concurrency=concurrency,
                        name="backlog") as worker:  # fmt: skip
        start, cpu_before = time.monotonic(), worker.cpu_seconds()
        here_before = time.process_time()
        figures["backlog_settled"] = wait_settled(pks, timeout=max(120, n / 5))
        figures["backlog_s"] = time.monotonic() - start
        figures["backlog_cpu_ms"] = (worker.cpu_seconds() - cpu_before) / n * 1000
        # This process serves the Twilio double and the SMTP sink (and polls): their share.
        figures["backlog_doubles_ms"] = (time.process_time() - here_before) / n * 1000
    done = jobs_of(pks).filter(state="done", email_status="sent").count()
    hashes = common.stored_hashes()
    addresses = list(jobs_of(pks).values_list("mailbox__local_part", "mailbox__domain__name"))
    figures["backlog_hashes"] = sum(
        1 for local, domain in addresses if f"{local}@{domain}" in hashes
    )
    figures["backlog_done"] = done
    figures["backlog_per_s"] = n / figures["backlog_s"]
    figures["backlog_n"] = n


def phone(series: int):
    return lambda i: f"+3247{series}{i:06d}"


def latency_figures(pks, figures: dict) -> None:
    rows = list(jobs_of(pks).values_list("created_at", "sms_sent_at", "email_sent_at", "state"))
    first = min(created for created, *_ in rows)
    sms = [sent for _c, sent, _e, _s in rows if sent]
    emails = [sent for _c, _s, sent, _state in rows if sent]
    latencies = [(sent - created).total_seconds() for created, sent, *_ in rows if sent]
    figures.update(
        done=sum(1 for *_x, state in rows if state == "done"),
        wall_sms_s=(max(sms) - first).total_seconds(),
        wall_email_s=(max(emails) - first).total_seconds() if emails else float("nan"),
        p50=common.percentile(latencies, 50),
        p95=common.percentile(latencies, 95),
        max=max(latencies),
    )
    figures["jobs_per_s"] = len(sms) / figures["wall_sms_s"]


def check_invariant(twilio, pks, figures: dict, sample: int = 200) -> None:
    """Every mailbox got one SMS, and its password verifies against the stored hash."""
    from provisioning import passwords

    texts = common.sms_by_address(twilio)
    hashes = common.stored_hashes()
    addresses = [address for address in texts if address.startswith("tp")]
    figures["sms"] = sum(len(texts[address]) for address in addresses)
    checked = addresses[:sample]
    figures["verified"] = sum(passwords.verify(texts[a][-1], hashes.get(a, "")) for a in checked)
    figures["checked"] = len(checked)


def profile(env: dict, folder: Path, n: int, figures: dict) -> None:
    from bench.profiled_worker import breakdown

    path = folder / "worker-profile.json"
    with ProfiledWorker(env, folder / "profiled-worker.log", path) as worker:
        pks = common.create_mailboxes(n, prefix="prof", phone=phone(2))
        if not wait_settled(pks, timeout=max(120, n)):
            raise RuntimeError(f"profiled jobs not done:\n{worker.log_tail()}")
    figures["profile"] = breakdown(path)
    figures["profile_n"] = n


def report(n: int, concurrency: int, figures: dict) -> list[dict]:
    say(f"\n== Throughput: {n} mailboxes, 1 worker × {concurrency} prefork processes")
    say(f"  hash scheme: {figures['scheme']}")
    say(f"  requests (mailbox_create): {figures['create_s']:.1f} s, "
        f"{figures['create_cpu_ms']:.1f} ms CPU each in the requesting process")  # fmt: skip
    say(f"  jobs done: {figures['done']}/{n}; SMS sent: {figures['sms']}; last SMS verifies "
        f"against the stored hash: {figures['verified']}/{figures['checked']} checked")  # fmt: skip
    say(f"  wall time, first request → last SMS accepted: {figures['wall_sms_s']:.1f} s "
        f"→ {figures['jobs_per_s']:.1f} jobs/s (target ≥ {TARGET_JOBS_PER_S})")  # fmt: skip
    say(f"  wall time, first request → last email sent: {figures['wall_email_s']:.1f} s")
    say(f"  latency request → SMS accepted: p50 {figures['p50']:.2f} s, "
        f"p95 {figures['p95']:.2f} s, max {figures['max']:.2f} s")  # fmt: skip
    outside = figures["worker_cpu_ms"] - figures["hash_ms"]
    # Even on an idle machine the cores bound the rate: worker and request CPU alone, before
    # PostgreSQL, Redis and the Twilio double take their share.
    ceiling = (os.cpu_count() or 1) * 1000 / (figures["worker_cpu_ms"] + figures["create_cpu_ms"])
    say(f"  one hash: {figures['hash_ms']:.2f} ms CPU")
    say(f"  worker CPU per job (both pool processes and the main process, SMS + email): "
        f"{figures['worker_cpu_ms']:.1f} ms; outside the hash {outside:.1f} ms "
        f"(target < {TARGET_CPU_MS} ms)")  # fmt: skip
    say(f"  PostgreSQL connections opened per job (both databases, worker and requests): "
        f"{figures['sessions_per_job']:.2f}")  # fmt: skip
    say(f"  CPU-bound ceiling on {os.cpu_count()} idle cores (worker + request CPU only): "
        f"{ceiling:.0f} jobs/s")  # fmt: skip
    more = bulk_report(figures)
    print_profile(figures)
    jobs_ok = figures["jobs_per_s"] >= TARGET_JOBS_PER_S
    return more + [
        row("hash scheme", figures["scheme"]),
        row("jobs done; SMS sent; last SMS verifies against the stored hash",
            f"{figures['done']} of {n}; {figures['sms']}; {figures['verified']} of "
            f"{figures['checked']} checked", "all", figures["done"] == n == figures["sms"]
            and figures["verified"] == figures["checked"]),
        row("wall time to last SMS; jobs/s",
            f"{figures['wall_sms_s']:.1f} s; {figures['jobs_per_s']:.1f} jobs/s",
            f"≥ {TARGET_JOBS_PER_S} jobs/s", jobs_ok),
        row("latency request → SMS p50 / p95 / max",
            f"{figures['p50']:.2f} / {figures['p95']:.2f} / {figures['max']:.2f} s"),
        row("CPU of one hash", f"{figures['hash_ms']:.2f} ms"),
        row("worker CPU per job, outside the hash",
            f"{outside:.1f} ms (total {figures['worker_cpu_ms']:.1f} ms)",
            f"< {TARGET_CPU_MS} ms", outside < TARGET_CPU_MS),
        row("requesting process CPU per mailbox_create", f"{figures['create_cpu_ms']:.1f} ms"),
        row("PostgreSQL connections opened per job", f"{figures['sessions_per_job']:.2f}"),
        row("CPU-bound ceiling: cores / (worker + request CPU per job)", f"{ceiling:.0f} jobs/s"),
    ]  # fmt: skip


def bulk_report(figures: dict) -> list[dict]:
    """The idle single creations, the backlog drain and the statements per job."""
    rows = []
    if "idle_p95" in figures:
        say(f"  single creation on an idle worker, commit → SMS accepted ({figures['idle_n']} "
            f"one at a time): p50 {figures['idle_p50']:.3f} s, p95 {figures['idle_p95']:.3f} s "
            f"(target < {TARGET_IDLE_P95_S} s)")  # fmt: skip
        met = figures["idle_p95"] < TARGET_IDLE_P95_S
        rows.append(row("single creation on an idle worker, commit → SMS p50 / p95",
                        f"{figures['idle_p50']:.3f} / {figures['idle_p95']:.3f} s",
                        f"p95 < {TARGET_IDLE_P95_S} s", met))  # fmt: skip
    if "backlog_s" in figures:
        n, per_s = figures["backlog_n"], figures["backlog_per_s"]
        outside = figures["backlog_cpu_ms"] - figures["hash_ms"]
        say(f"  backlog of {n} queued jobs, worker ready → all settled: "
            f"{figures['backlog_s']:.1f} s → {per_s:.1f} mailboxes/s (target ≥ "
            f"{TARGET_JOBS_PER_S}); hashes in the table {figures['backlog_hashes']}, SMS and "
            f"email done {figures['backlog_done']}; worker CPU per job "
            f"{figures['backlog_cpu_ms']:.1f} ms, outside the hash {outside:.1f} ms; the bench "
            f"process (Twilio double, SMTP sink, polling) {figures['backlog_doubles_ms']:.1f} ms "
            f"CPU per job")  # fmt: skip
        rows += [
            row("backlog of N queued jobs drained: time; mailboxes/s",
                f"{figures['backlog_s']:.1f} s; {per_s:.1f}/s", f"≥ {TARGET_JOBS_PER_S}/s",
                per_s >= TARGET_JOBS_PER_S and figures["backlog_done"] == n),
            row("backlog: worker CPU per job outside the hash", f"{outside:.1f} ms",
                f"< {TARGET_CPU_MS} ms", outside < TARGET_CPU_MS),
        ]  # fmt: skip
    sql, n = figures["profile"].get("sql"), figures["profile_n"]
    if sql and sql["statements"]:
        per_alias = {alias: count / n for alias, count in sql["statements"].items()}
        commits = sum(sql["commits"].values()) / n
        say(f"  SQL statements per job (solo worker, password + email steps): "
            f"{sum(per_alias.values()):.1f} ("
            + ", ".join(f"{alias} {count:.1f}" for alias, count in sorted(per_alias.items()))
            + f"), plus {commits:.1f} COMMIT")  # fmt: skip
        rows.append(row("SQL statements per job (both steps, solo worker)",
                        f"{sum(per_alias.values()):.1f} + {commits:.1f} COMMIT"))  # fmt: skip
    return rows


def print_profile(figures: dict) -> None:
    profile, n = figures["profile"], figures["profile_n"]
    total = profile["total"]
    if not total:
        return
    say(f"\n  Profile of a solo worker over {n} jobs (sampling on CPU time, "
        f"{profile['samples']} samples): {total / n * 1000:.1f} ms CPU per job")  # fmt: skip
    say("  where the CPU goes (by the module running; C calls charged to their callers):")
    for name, seconds in profile["buckets"]:
        say(f"    {seconds / n * 1000:6.2f} ms/job {seconds / total:6.1%}  {name}")
    say("  inclusive CPU of entry points:")
    for label, seconds in [*profile["entries"], profile["outside_tasks"]]:
        say(f"    {seconds / n * 1000:6.2f} ms/job {seconds / total:6.1%}  {label}")
    say("  top functions inside the tasks, by inclusive CPU:")
    for seconds, name in profile["top"]:
        say(f"    {seconds / n * 1000:6.2f} ms/job {seconds / total:6.1%}  {name}")
    say("  top functions by own CPU (C calls charged to their callers):")
    for seconds, name in profile["top_own"]:
        say(f"    {seconds / n * 1000:6.2f} ms/job {seconds / total:6.1%}  {name}")


def main() -> None:
    n = env_int("BENCH_N", 1000)
    profile_n = env_int("BENCH_PROFILE_N", 200)
    concurrency = env_int("BENCH_CONCURRENCY", 2)
    say(f"[{common.stamp()}] throughput: N={n}, load average {common.load_average()}")
    figures: dict = {}
    with ExitStack() as stack:
        folder = stack.enter_context(common.temp_dir("bench-throughput-"))
        app_db, mail_db = stack.enter_context(loopback.scratch_databases(*DATABASES))
        twilio = stack.enter_context(common.FakeTwilio())
        smtp = stack.enter_context(loopback.SmtpSink(folder / "outbox"))
        stack.enter_context(loopback.redis_database())
        env = common.bench_env(app_db=app_db, mail_db=mail_db, twilio=twilio, smtp=smtp)
        common.django_setup(env, folder / "bench.log")
        common.migrate()
        figures["scheme"] = scheme()
        figures["hash_ms"] = hash_cpu_ms()
        with workers.Worker(env, folder / "worker.log", concurrency=concurrency) as worker:
            pks = measure(n, worker, figures)
            idle_latency(env_int("BENCH_IDLE_N", 20), figures)
        latency_figures(pks, figures)
        check_invariant(twilio, pks, figures)
        if env_int("BENCH_BACKLOG", 1):
            backlog(env, folder, n, concurrency, figures)
        if profile_n:
            profile(env, folder, profile_n, figures)
        else:
            figures["profile"] = {"total": 0, "buckets": [], "entries": [], "top": []}
            figures["profile_n"] = 1
    rows = report(n, concurrency, figures)
    notes = [
        f"Throughput profile over {figures['profile_n']} jobs (ms CPU per job, own time): "
        + "; ".join(
            f"{name.split(' (')[0]} {seconds / figures['profile_n'] * 1000:.1f}"
            for name, seconds in figures["profile"]["buckets"][:7]
        )
    ][: 1 if profile_n else 0]  # no profile (BENCH_PROFILE_N=0): no note
    common.record(BENCH, rows, notes)


if __name__ == "__main__":
    main()
