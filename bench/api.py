"""API: 2 clients create N mailboxes through HTTP while a real worker provisions them.

gunicorn (2 sync workers) serves the app on a loopback port with production's settings;
one `celery worker --concurrency 2` on Redis does the jobs; the Twilio double and an SMTP
sink take the SMS and emails; PostgreSQL scratch databases for both databases; Redis is
the broker and the shared cache (CACHE_URL). Two client threads, each with its own token,
POST /api/v1/mailboxes/ with an Idempotency-Key, one after the other, as the example
script does. The rate per token is raised for the run (it would refuse 250 calls a minute
from one client: a policy, not what is measured).

Prints the creations per second from the first POST until the last hash is in the mail
table, the latency of a POST (p50 / p95 / max), the SQL queries per request counted inside
gunicorn (execute wrappers on both databases), the CPU per mailbox of gunicorn and of the
worker; then checks one SMS per mailbox, the passwords against the stored hashes, a replay
of a retried POST, and follows jobs through GET /api/v1/jobs/{id}/.

Run: .venv/bin/python bench/api.py      BENCH_API_N=500 BENCH_API_CLIENTS=2
"""

import json
import os
import socket
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, loopback, workers  # noqa: E402
from bench.common import env_int, row, say  # noqa: E402

BENCH = "api"
TARGET_PER_S = 30
GUNICORN = Path(sys.executable).with_name("gunicorn")
PREFIX = "api"

# Written to the run's folder: settings that raise the rate per token, and gunicorn hooks
# that count each request's SQL statements (both databases) into a file per worker.
SETTINGS = """from {base} import *  # noqa: F403
REST_FRAMEWORK = {{**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {{"api_token": "100000/minute"}}}}
"""
GUNICORN_CONF = """import os
_count = [0]
def _counting(execute, sql, params, many, context):
    _count[0] += 1
    return execute(sql, params, many, context)
def post_fork(server, worker):
    from django.db.backends.signals import connection_created
    def wrap(sender, connection, **kwargs):
        connection.execute_wrappers.append(_counting)
    connection_created.connect(wrap, weak=False)
def pre_request(worker, req):
    _count[0] = 0
def post_request(worker, req, environ, resp):
    with open(os.path.join(os.environ["BENCH_QUERY_DIR"], f"{os.getpid()}.log"), "a") as f:
        f.write(f"{req.method} {req.path} {str(resp.status).split()[0]} {_count[0]}\\n")
"""


class Gunicorn(workers.Worker):
    """`gunicorn -w 2` in its own process group: started, timed (CPU), stopped as a worker."""

    def __init__(self, env, log_path, *, port: int, conf: Path, concurrency: int = 2):
        super().__init__(env, log_path, concurrency=concurrency, name="gunicorn")
        self.port, self.conf = port, conf

    def command(self) -> list[str]:
        return [
            str(GUNICORN), "octopus_mail.wsgi:application", "-w", str(self.concurrency),
            "-b", f"127.0.0.1:{self.port}", "-c", str(self.conf), "--log-level", "warning",
        ]  # fmt: skip

    def wait_ready(self, offset: int = 0, timeout: float = 90) -> None:
        import requests

        def healthy() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_tail(offset)}")
            try:
                return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        if not common.wait_until(healthy, timeout=timeout, interval=0.2):
            raise RuntimeError(f"gunicorn not healthy after {timeout} s:\n{self.log_tail(offset)}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_tokens(count: int) -> list[str]:
    from api import services
    from audit.services import Actor

    return [
        services.api_token_create(
            name=f"bench {n}", scopes=["mailboxes:read", "mailboxes:write"],
            actor=Actor.system("bench"),
        ).secret
        for n in range(count)
    ]  # fmt: skip


def body(i: int, prefix: str = PREFIX) -> dict:
    return {
        "local_part": f"{prefix}{i:05d}",
        "full_name": f"Membre {prefix} {i}",
        "personal_email": f"{prefix}{i}@example.org",
        "phone": f"+32473{i:06d}",
    }


class Client(threading.Thread):
    """POSTs its share of the mailboxes one after the other, timing each answer."""

    def __init__(self, base_url: str, token: str, numbers, start_at: threading.Barrier):
        super().__init__(daemon=True)
        self.base_url, self.token, self.numbers, self.start_at = base_url, token, numbers, start_at
        self.url = f"{base_url}/api/v1/mailboxes/"
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = defaultdict(int)
        self.answers: list[tuple[dict, str, dict]] = []  # (body, key, answer)
        self.error: BaseException | None = None

    def run(self) -> None:
        import requests

        try:
            with requests.Session() as session:
                session.headers["Authorization"] = f"Bearer {self.token}"
                self.start_at.wait()
                for i in self.numbers:
                    fields, key = body(i), str(uuid.uuid4())
                    began = time.monotonic()
                    response = session.post(
                        self.url, json=fields, headers={"Idempotency-Key": key}, timeout=30
                    )
                    self.latencies.append(time.monotonic() - began)
                    self.statuses[response.status_code] += 1
                    self.answers.append((fields, key, response.json()))
        except BaseException as exc:  # reported by the main thread
            self.error = exc


def hashes_written(prefix: str = PREFIX) -> int:
    from django.db import connections

    from provisioning import mailschemas, mailserver

    schema = mailschemas.current()
    with connections[mailserver.ALIAS].cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {schema.users_table} WHERE {schema.address_column} LIKE %s "
            "AND password <> ''",
            [f"{prefix}%"],
        )
        return cursor.fetchone()[0]


def settled(prefix: str) -> int:
    from django.db.models import Q

    from provisioning.models import ProvisioningJob

    return (
        ProvisioningJob.objects.filter(mailbox__local_part__startswith=prefix)
        .filter(Q(state="failed") | Q(state="done", email_status__in=["sent", "failed"]))
        .count()
    )


def queries_by_endpoint(folder: Path) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(list)
    for log in folder.glob("*.log"):
        for line in log.read_text().splitlines():
            method, path, status, count = line.split()
            kind = "/api/v1/jobs/{id}/" if path.startswith("/api/v1/jobs/") else path
            found[f"{method} {kind} → {status}"].append(int(count))
    return found


def warm_up(server: Gunicorn, worker: workers.Worker, tokens: list[str]) -> None:
    import requests

    for n, token in enumerate(tokens):
        for i in range(3):
            requests.post(f"{server.url}/api/v1/mailboxes/", json=body(n * 10 + i, "warm"),
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
    if not common.wait_until(lambda: settled("warm") == 3 * len(tokens), timeout=60):
        from provisioning.models import ProvisioningJob

        states = list(ProvisioningJob.objects.values_list("state", "email_status", "last_error"))
        raise RuntimeError(f"warm-up jobs not settled: {states}\n{worker.log_tail()}")


def measure(server, worker, tokens, n: int, figures: dict, query_dir: Path) -> list[Client]:
    for log in query_dir.glob("*.log"):
        log.unlink()  # the warm-up's requests are not counted
    barrier = threading.Barrier(len(tokens) + 1)
    clients = [
        Client(server.url, token, range(k, n, len(tokens)), barrier)
        for k, token in enumerate(tokens)
    ]
    for client in clients:
        client.start()
    cpu = (server.cpu_seconds(), worker.cpu_seconds())
    barrier.wait()
    start = time.monotonic()
    for client in clients:
        client.join(timeout=max(300, n))
        if client.error:
            raise RuntimeError(f"a client failed: {client.error!r}")
    figures["posts_s"] = time.monotonic() - start
    figures["all_hashes"] = common.wait_until(
        lambda: hashes_written() >= n, timeout=max(120, n / 2), interval=0.05
    )
    figures["hashes_s"] = time.monotonic() - start
    figures["gunicorn_cpu_ms"] = (server.cpu_seconds() - cpu[0]) / n * 1000
    figures["settled"] = common.wait_until(lambda: settled(PREFIX) >= n, timeout=max(120, n))
    figures["worker_cpu_ms"] = (worker.cpu_seconds() - cpu[1]) / n * 1000  # SMS, email too
    return clients


def checks(server, twilio, clients, tokens, figures: dict) -> None:
    """One SMS per mailbox, the passwords verify, a replay creates nothing, jobs followed."""
    import requests

    from accounts.models import Mailbox
    from provisioning import passwords
    from provisioning.models import ProvisioningJob

    texts = {a: p for a, p in common.sms_by_address(twilio).items() if a.startswith(PREFIX)}
    figures["sms"] = sum(len(found) for found in texts.values())
    hashes = common.stored_hashes()
    sample = sorted(texts)[:100]
    figures["verified"] = sum(passwords.verify(texts[a][-1], hashes.get(a, "")) for a in sample)
    figures["checked"] = len(sample)
    fields, key, first = clients[0].answers[0]
    replay = requests.post(f"{server.url}/api/v1/mailboxes/", json=fields, timeout=30,
                           headers={"Authorization": f"Bearer {tokens[0]}",
                                    "Idempotency-Key": key})  # fmt: skip
    figures["replay_same"] = replay.status_code == 202 and replay.json() == first
    figures["mailboxes"] = Mailbox.objects.filter(local_part__startswith=PREFIX).count()
    figures["jobs"] = ProvisioningJob.objects.filter(mailbox__local_part__startswith=PREFIX).count()
    job_latencies = []
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {tokens[1 % len(tokens)]}"
        for _fields, _key, answer in clients[-1].answers[:50]:
            began = time.monotonic()
            job = session.get(answer["job"]["url"], timeout=30).json()
            job_latencies.append(time.monotonic() - began)
            figures.setdefault("job_states", defaultdict(int))[job["state"]] += 1
    figures["job_p50"] = statistics.median(job_latencies)


def report(n: int, clients, figures: dict, queries: dict) -> list[dict]:
    latencies = [value for client in clients for value in client.latencies]
    statuses = defaultdict(int)
    for client in clients:
        for code, count in client.statuses.items():
            statuses[code] += count
    rate = n / figures["hashes_s"]
    p50, p95 = common.percentile(latencies, 50), common.percentile(latencies, 95)
    say(f"\n== API: {n} mailboxes, {len(clients)} clients, gunicorn -w 2, 1 worker × 2")
    say(f"  answers: {dict(statuses)}; mailboxes {figures['mailboxes']}, jobs {figures['jobs']}")
    say(f"  POSTs done in {figures['posts_s']:.1f} s ({n / figures['posts_s']:.1f}/s); last hash "
        f"in the mail table after {figures['hashes_s']:.1f} s → {rate:.1f} creations/s "
        f"(target ≥ {TARGET_PER_S})")  # fmt: skip
    say(
        f"  POST latency: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms; GET job p50 {figures['job_p50'] * 1000:.0f} ms"
    )
    say(f"  CPU per mailbox: gunicorn {figures['gunicorn_cpu_ms']:.1f} ms, worker "
        f"{figures['worker_cpu_ms']:.1f} ms (hash, mail table, SMS, email)")  # fmt: skip
    say("  SQL queries per request (inside gunicorn, both databases): mean / max")
    for endpoint, counts in sorted(queries.items()):
        mean = statistics.mean(counts)
        say(f"    {endpoint}: {mean:.1f} / {max(counts)} ({len(counts)} requests)")
    say(f"  SMS: {figures['sms']}; last SMS verifies against the stored hash: "
        f"{figures['verified']}/{figures['checked']}; retried POST replayed: "
        f"{figures['replay_same']}; jobs followed: {dict(figures['job_states'])}")  # fmt: skip
    post = queries.get("POST /api/v1/mailboxes/ → 202", [0])
    ok = figures["mailboxes"] == figures["jobs"] == figures["sms"] == n and figures["replay_same"]
    return [
        row("mailboxes; jobs; SMS; retried POST replayed",
            f"{figures['mailboxes']}; {figures['jobs']}; {figures['sms']}; "
            f"{figures['replay_same']}", f"{n} each, replayed", ok),
        row("creations/s, first POST → last hash in the mail table",
            f"{rate:.1f} ({figures['hashes_s']:.1f} s)", f"≥ {TARGET_PER_S}",
            rate >= TARGET_PER_S),
        row("POST latency p50 / p95 / max",
            f"{p50 * 1000:.0f} / {p95 * 1000:.0f} / {max(latencies) * 1000:.0f} ms"),
        row("SQL queries per POST (mean / max)", f"{statistics.mean(post):.1f} / {max(post)}"),
        row("CPU per mailbox: gunicorn / worker",
            f"{figures['gunicorn_cpu_ms']:.1f} / {figures['worker_cpu_ms']:.1f} ms"),
    ]  # fmt: skip


def main() -> None:
    n = env_int("BENCH_API_N", 500)
    client_count = env_int("BENCH_API_CLIENTS", 2)
    say(f"[{common.stamp()}] api: N={n}, {client_count} clients, load {common.load_average()}")
    figures: dict = {}
    with ExitStack() as stack:
        folder = stack.enter_context(common.temp_dir("bench-api-"))
        query_dir = folder / "queries"
        query_dir.mkdir()
        app_db, mail_db = stack.enter_context(
            loopback.scratch_databases("bench_api_app", "bench_api_mail")
        )
        twilio = stack.enter_context(common.FakeTwilio())
        smtp = stack.enter_context(loopback.SmtpSink(folder / "outbox"))
        stack.enter_context(loopback.redis_database())
        base = os.environ.get("BENCH_SETTINGS", "octopus_mail.settings")
        (folder / "bench_api_settings.py").write_text(SETTINGS.format(base=base))
        (folder / "gunicorn_conf.py").write_text(GUNICORN_CONF)
        env = common.bench_env(app_db=app_db, mail_db=mail_db, twilio=twilio, smtp=smtp,
                               CACHE_URL=loopback.REDIS_URL, BENCH_QUERY_DIR=query_dir)  # fmt: skip
        env["DJANGO_SETTINGS_MODULE"] = "bench_api_settings"
        env["PYTHONPATH"] = os.pathsep.join([str(folder), env["PYTHONPATH"]])
        sys.path.insert(0, str(folder))
        common.django_setup(env, folder / "bench.log")
        common.migrate()
        tokens = make_tokens(client_count)
        worker = stack.enter_context(workers.Worker(env, folder / "worker.log"))
        conf = folder / "gunicorn_conf.py"
        server = stack.enter_context(
            Gunicorn(env, folder / "gunicorn.log", port=free_port(), conf=conf)
        )
        warm_up(server, worker, tokens)
        clients = measure(server, worker, tokens, n, figures, query_dir)
        checks(server, twilio, clients, tokens, figures)
        queries = queries_by_endpoint(query_dir)
    rows = report(n, clients, figures, queries)
    means = {endpoint: round(statistics.mean(counts), 1) for endpoint, counts in queries.items()}
    common.record(
        BENCH, rows, [f"API queries per request: {json.dumps(means, ensure_ascii=False)}"]
    )


if __name__ == "__main__":
    main()
