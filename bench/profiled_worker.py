"""A solo Celery worker under a sampling CPU profiler, from `worker_ready` until its warm
shutdown; and the breakdown of such a profile into where the CPU went.

The profiler samples the running Python stack on SIGPROF, which the kernel sends as the
process uses CPU (ITIMER_PROF; in practice once per scheduler tick, so the samples are
scaled to the CPU time the process really used): samples weigh CPU time, not waiting, and
add a few per cent of overhead, where cProfile inflated pure-Python code (the SHA-crypt
hash) five-fold. A C call (a socket read, psycopg, hashlib) is charged to its Python caller.

Run: python bench/profiled_worker.py OUTPUT.json   (in the bench's environment; SIGTERM ends it)
"""

import json
import signal
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

INTERVAL = 0.001  # seconds of CPU between samples asked; the kernel's tick may space them more

# Where a sample's CPU goes, by the source file of its innermost frame (first match wins).
BUCKETS = [
    ("password hash (passlib)", ("/passlib/",)),
    ("SQL (Django ORM, psycopg)", ("/django/db/", "/psycopg/", "/psycopg_binary/")),
    ("HTTP to Twilio (twilio, requests, urllib3, http.client, socket)",
     ("/twilio/", "/requests/", "/urllib3/", "/http/client.py", "/socket.py", "/ssl.py",
      "/charset_normalizer/", "/idna/", "/certifi/", "/http/cookiejar.py",
      "/urllib/request.py", "/urllib/parse.py")),
    ("templates (Django templates)", ("/django/template/", "/django/templatetags/")),
    ("email (Django mail, MIME, smtplib; the stdlib email package also parses HTTP headers)",
     ("/django/core/mail/", "/email/", "/smtplib.py")),
    ("Celery, kombu, billiard, redis client", ("/celery/", "/kombu/", "/billiard/", "/redis/",
                                               "/vine/", "/amqp/")),
    ("logging", ("/logging/",)),
    ("app code (provisioning, accounts, audit)", ("/provisioning/", "/accounts/", "/audit/",
                                                  "/octopus_mail/")),
    ("other Django (i18n, settings, signals, utils)", ("/django/",)),
    ("phone numbers (phonenumbers)", ("/phonenumbers/", "/phonenumber_field/")),
]  # fmt: skip
OTHER = "other (stdlib: uuid, json, threading, ...)"
# Inclusive CPU of these functions (a sample counts when one of them is on the stack).
ENTRY_POINTS = [
    ("task deliver_password (whole)", "provisioning/tasks.py", "deliver_password"),
    ("task send_job_email (whole)", "provisioning/tasks.py", "send_job_email"),
    ("  passwords.hash_password", "provisioning/passwords.py", "hash_password"),
    ("  SQL statements (CursorWrapper.execute)", "django/db/backends/utils.py", "execute"),
    ("  database connections opened (connect)", "django/db/backends/base/base.py", "connect"),
    ("  ORM query building (SQLCompiler.as_sql)", "django/db/models/sql/compiler.py", "as_sql"),
    ("  SMS backend built (twilio Client)", "provisioning/sms/twilio.py", "__init__"),
    ("  SMS sent (SmsBackend.send)", "provisioning/sms/twilio.py", "send"),
    ("  templates rendered (render_to_string)", "django/template/loader.py", "render_to_string"),
    ("  email sent (EmailMessage.send)", "django/core/mail/message.py", "send"),
    ("  logging calls (Logger._log)", "logging/__init__.py", "_log"),
]


class StatementCounter:
    """SQL statements Django sends, by database alias, and the transactions it commits
    (PostgreSQL's BEGIN is implicit, COMMIT a round trip of its own)."""

    def __init__(self) -> None:
        self.statements: Counter = Counter()
        self.commits: Counter = Counter()

    def install(self) -> None:
        from django.db.backends import utils
        from django.db.backends.base.base import BaseDatabaseWrapper

        counter = self
        execute, executemany = utils.CursorWrapper._execute, utils.CursorWrapper._executemany
        commit = BaseDatabaseWrapper.commit

        def counted_execute(self, sql, params, *ignored):
            counter.statements[self.db.alias] += 1
            return execute(self, sql, params, *ignored)

        def counted_executemany(self, sql, param_list, *ignored):
            counter.statements[self.db.alias] += 1
            return executemany(self, sql, param_list, *ignored)

        def counted_commit(self):
            counter.commits[self.alias] += 1
            return commit(self)

        utils.CursorWrapper._execute = counted_execute
        utils.CursorWrapper._executemany = counted_executemany
        BaseDatabaseWrapper.commit = counted_commit

    def dump(self) -> dict:
        return {"statements": dict(self.statements), "commits": dict(self.commits)}


class SamplingProfiler:
    def __init__(self) -> None:
        self.stacks: Counter = Counter()
        self.cpu = 0.0
        self._started: float | None = None

    def _sample(self, signum, frame) -> None:
        stack = []
        while frame is not None:
            code = frame.f_code
            stack.append((code.co_filename, code.co_firstlineno, code.co_name))
            frame = frame.f_back
        self.stacks[tuple(stack)] += 1  # innermost frame first

    def start(self) -> None:
        signal.signal(signal.SIGPROF, self._sample)
        self._started = time.process_time()
        signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        if self._started is not None:
            self.cpu += time.process_time() - self._started
            self._started = None

    def dump(self, path: Path, **extra) -> None:
        data = [[count, [list(frame) for frame in stack]] for stack, count in self.stacks.items()]
        path.write_text(json.dumps({"cpu": self.cpu, "stacks": data, **extra}))


def bucket_of(filename: str) -> str:
    for name, markers in BUCKETS:
        if any(marker in filename for marker in markers):
            return name
    return OTHER


def breakdown(path: Path) -> dict:
    """{"total": CPU s, "buckets": [(name, s)], "entries": [(label, s)], "top": [(s, name)]}."""
    data = json.loads(path.read_text())
    samples = sum(count for count, _stack in data["stacks"])
    weight = data["cpu"] / samples if samples else 0.0  # CPU seconds a sample stands for
    buckets: dict[str, float] = defaultdict(float)
    entries: dict[str, float] = defaultdict(float)
    inclusive: dict[str, float] = defaultdict(float)
    own: dict[str, float] = defaultdict(float)
    total = 0.0
    for count, stack in data["stacks"]:
        seconds = count * weight
        total += seconds
        buckets[bucket_of(stack[0][0])] += seconds
        own[_name(*stack[0])] += seconds
        for label, file_suffix, function in ENTRY_POINTS:
            if any(f.endswith(file_suffix) and name == function for f, _l, name in stack):
                entries[label] += seconds
        # Inside a task only: the frames above it (Celery's loop) hold every sample.
        task = next((i for i, (f, _l, _n) in enumerate(stack) if f.endswith("/tasks.py")), 0)
        for name in {_name(*frame) for frame in stack[:task]}:
            inclusive[name] += seconds
    tasks = entries[ENTRY_POINTS[0][0]] + entries[ENTRY_POINTS[1][0]]
    outside = "outside the tasks (Celery consumer and tracing, kombu, Redis, fixups)"
    return {
        "total": total,
        "samples": samples,
        "outside_tasks": (outside, total - tasks),
        "buckets": sorted(buckets.items(), key=lambda item: -item[1]),
        "entries": [(label, entries[label]) for label, _f, _n in ENTRY_POINTS],
        "top": sorted(((s, name) for name, s in inclusive.items()), reverse=True)[:25],
        "top_own": sorted(((s, name) for name, s in own.items()), reverse=True)[:15],
        "sql": data.get("sql", {"statements": {}, "commits": {}}),
    }


def _name(filename: str, line: int, function: str) -> str:
    path = Path(filename)
    return f"{path.parent.name}/{path.name}:{line}({function})"


def main() -> None:
    output = Path(sys.argv[1])
    from celery.signals import worker_ready, worker_shutting_down

    from octopus_mail.celery import app

    profiler = SamplingProfiler()
    counter = StatementCounter()
    counter.install()
    worker_ready.connect(lambda **kwargs: profiler.start(), weak=False)
    worker_shutting_down.connect(lambda **kwargs: profiler.stop(), weak=False)
    try:
        app.worker_main(
            [
                "worker",
                "-P",
                "solo",
                "--loglevel",
                "INFO",
                "-n",
                "bench-profiled@%h",
                "--without-mingle",
                "--without-gossip",
            ]  # fmt: skip
        )
    finally:
        profiler.stop()
        profiler.dump(output, sql=counter.dump())


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
