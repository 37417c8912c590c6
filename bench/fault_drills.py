"""Fault drills: N jobs (default 300) while workers are killed, the broker is flushed (or,
on RabbitMQ, restarted), the mail database stops for 30 s, Twilio answers 30 % of calls with
429/503 and lets 5 % time out, and 10 members have numbers Twilio refuses (21211). Nothing
may be lost.

The app database is a scratch database on the shared PostgreSQL; the mail database lives in
a private PostgreSQL (initdb in a temporary folder, port BENCH_PG_PORT=55432), the only one
this drill stops. One `celery worker --concurrency 2 -P prefork`; the sweep (the body of the
`provisioning.sweep` task) runs from here every 2 s, with the PROVISIONING_* delays shortened
in proportion (retry backoff 2 s doubling to 16 s, queued grace 10 s, claim timeout 20 s).

Per drill it prints: jobs done, failed permanently (must be exactly the invalid numbers),
still pending after the deadline (must be 0), duplicate SMS, whether the last SMS of every
mailbox holds the password whose hash is stored (invariant 2), and the plaintext passwords
found in dumps of both databases, in the broker (Redis: every command received, every key
left; RabbitMQ: every message routed, every message left), in the log files and in the
emails sent (must be 0).

Run: .venv/bin/python bench/fault_drills.py
     BENCH_BROKER=redis (default) | rabbitmq (a private node, bench/brokers.py)
     BENCH_DRILLS=combined (default) | each | kill,flush,maildb,twilio,combined,restart
     BENCH_DRILL_N=300 BENCH_DRILL_INVALID=10 BENCH_DRILL_DEADLINE=180 BENCH_DRILL_SEED=9
"""

import os
import random
import re
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import brokers, common, leaks, loopback, workers  # noqa: E402
from bench.common import env_float, env_int, row, say  # noqa: E402

FAULTS = ("kill", "flush", "maildb", "twilio", "invalid")
DRILLS = {
    "kill": {"kill"},
    "flush": {"flush"},
    "maildb": {"maildb"},
    "twilio": {"twilio", "invalid"},
    "combined": set(FAULTS),
    "restart": {"restart"},  # RabbitMQ only: the bench's Redis is shared, never restarted
}
# The production delays (10 s backoff doubling to 600 s, 120 s grace, 300 s claim timeout)
# scaled down so that a drill takes minutes. A step gives up on time, not on a count: the
# production PROVISIONING_GIVE_UP_AFTER (24 h) is kept, so only the invalid numbers may fail.
# The report still says how many jobs needed more than the former limit of 6 attempts.
SETTINGS = {
    "PROVISIONING_RETRY_BACKOFF": 2,
    "PROVISIONING_RETRY_BACKOFF_MAX": 8,
    "PROVISIONING_QUEUED_GRACE": 10,
    "PROVISIONING_CLAIM_TIMEOUT": 20,
    "PROVISIONING_GIVE_UP_AFTER": env_int("BENCH_DRILL_GIVE_UP_AFTER", 24 * 3600),
    "SMS_TIMEOUT": 2,
}
DEFAULT_ATTEMPTS = 6
APP_DB = os.environ.get("BENCH_DRILL_APP_DB") or "bench_drill_app"  # two runs need two names


class Plan:
    """When each fault strikes, in seconds from the first request."""

    n = env_int("BENCH_DRILL_N", 300)
    invalid = env_int("BENCH_DRILL_INVALID", 10)
    create_over = env_float("BENCH_DRILL_CREATE_S", 20)  # requests spread over this long
    kill_every = env_float("BENCH_DRILL_KILL_EVERY", 3)
    kill_until = env_float("BENCH_DRILL_KILL_UNTIL", 40)
    flush_at = env_float("BENCH_DRILL_FLUSH_AT", 8)
    restart_at = env_float("BENCH_DRILL_RESTART_AT", 8)
    broker_down = env_float("BENCH_DRILL_BROKER_DOWN", 5)
    maildb_at = env_float("BENCH_DRILL_MAILDB_AT", 10)
    maildb_down = env_float("BENCH_DRILL_MAILDB_DOWN", 30)
    sweep_every = env_float("BENCH_DRILL_SWEEP_EVERY", 2)
    deadline = env_float("BENCH_DRILL_DEADLINE", 180)
    error_rate = env_float("BENCH_DRILL_TWILIO_ERRORS", 0.30)
    timeout_rate = env_float("BENCH_DRILL_TWILIO_TIMEOUTS", 0.05)
    seed = env_int("BENCH_DRILL_SEED", 9)

    def invalid_rows(self) -> set[int]:
        step = self.n // max(self.invalid, 1)
        return {step // 2 + k * step for k in range(self.invalid)}


def phone(i: int, invalid: set[int]) -> str:
    return f"+32499{i:06d}" if i in invalid else f"+32470{i:06d}"


class Drill:
    def __init__(self, name: str, faults: set, plan: Plan, shared: dict) -> None:
        self.name, self.faults, self.plan, self.shared = name, faults, plan, shared
        self.rng = random.Random(plan.seed)
        self.events: list[str] = []
        self.invalid = plan.invalid_rows() if "invalid" in faults else set()
        self.pks: list[int] = []
        self.kills = {"pool process": 0, "whole worker": 0}
        self.broker = shared["broker"]

    def note(self, t: float, text: str) -> None:
        self.events.append(f"t={t:5.1f} s {text}")

    # --- the run ---

    def run(self) -> dict:
        twilio, folder = self.shared["twilio"], self.shared["folder"]
        twilio.reset()
        if "invalid" in self.faults:
            twilio.refuse_numbers(phone(i, self.invalid) for i in self.invalid)
        if "twilio" in self.faults:
            twilio.misbehave(
                error_rate=self.plan.error_rate,
                stall_rate=self.plan.timeout_rate,
                stall_seconds=SETTINGS["SMS_TIMEOUT"] + 1,
                seed=self.plan.seed,
            )
        for old in (folder / "outbox").glob("*.eml"):
            old.unlink()
        with ExitStack() as stack:
            (app_db,) = stack.enter_context(loopback.scratch_databases(APP_DB))
            mailpg = stack.enter_context(loopback.PrivatePostgres(self.shared["pg_port"]))
            mailpg.create_database("bench_drill_mail")
            common.close_connections()
            common.migrate()
            self.broker.for_one_drill(stack)
            log = folder / f"{self.name}-worker.log"
            worker = stack.enter_context(workers.Worker(self.shared["env"], log, concurrency=2))
            elapsed = self.loop(worker, mailpg)
            worker.stop()
            figures = self.outcome(elapsed)
            figures["hits"] = self.scan(app_db, mailpg, log)
        twilio.reset()
        return figures

    def loop(self, worker, mailpg) -> float:
        from provisioning import tasks

        plan = self.plan
        start = self.start = time.monotonic()
        next_kill, next_sweep, next_check = plan.kill_every, 0.0, 0.0
        flushed, maildb, broker = False, "up", "up"
        while True:
            t = time.monotonic() - start
            due = min(plan.n, int(t / plan.create_over * plan.n) + 1)
            if len(self.pks) < due:
                self.create(len(self.pks), due)
            if "kill" in self.faults and next_kill <= t < plan.kill_until:
                self.kill(worker, t)
                next_kill += plan.kill_every
            if "flush" in self.faults and not flushed and t >= plan.flush_at:
                self.note(t, self.broker.flush())
                flushed = True
            if "restart" in self.faults and broker == "up" and t >= plan.restart_at:
                self.broker.stop()
                broker = "down"
                self.note(t, f"{self.broker.name} stopped")
            if broker == "down" and t >= plan.restart_at + plan.broker_down:
                self.broker.start_again()
                broker = "back"
                self.note(time.monotonic() - start, f"{self.broker.name} started again")
            if "maildb" in self.faults and maildb == "up" and t >= plan.maildb_at:
                mailpg.stop()
                maildb = "down"
                self.note(t, "mail database stopped")
            if maildb == "down" and t >= plan.maildb_at + plan.maildb_down:
                mailpg.start()
                maildb = "back"
                self.note(t, "mail database started again")
            if t >= next_sweep:
                tasks.sweep.apply()
                next_sweep += plan.sweep_every
            if t >= next_check and len(self.pks) == plan.n and "down" not in (maildb, broker):
                next_check = t + 1
                if self.unsettled().count() == 0:
                    return t
            if t > plan.deadline:
                self.note(t, "deadline")
                return t
            time.sleep(0.05)

    def create(self, first: int, last: int) -> None:
        self.pks += common.create_mailboxes(
            last - first, prefix="drill", first=first, phone=lambda i: phone(i, self.invalid)
        )

    def kill(self, worker, t: float) -> None:
        if sum(self.kills.values()) % 3 == 2:
            worker.kill()
            worker.start(wait=False)
            self.kills["whole worker"] += 1
            self.note(t, "SIGKILL to the whole worker (main process and pool), restarted")
        elif worker.kill_child(self.rng):
            self.kills["pool process"] += 1

    def unsettled(self):
        from django.db.models import Q

        from provisioning.models import ProvisioningJob

        return ProvisioningJob.objects.filter(pk__in=self.pks).filter(
            Q(state__in=["queued", "running"])
            | Q(state="done", email_status__in=["queued", "running"])
        )

    # --- what came of it ---

    def outcome(self, elapsed: float) -> dict:
        from provisioning import passwords
        from provisioning.models import ProvisioningJob

        jobs = list(
            ProvisioningJob.objects.filter(pk__in=self.pks).values_list(
                "pk", "state", "attempts", "email_status", "mailbox__member__phone"
            )
        )
        invalid_phones = {phone(i, self.invalid) for i in self.invalid}
        failed = [(pk, str(number)) for pk, state, _a, _e, number in jobs if state == "failed"]
        odd = [pk for pk, number in failed if number not in invalid_phones]
        odd += list(self.unsettled().values_list("pk", flat=True))
        common.close_connections()  # the mail database may have restarted under them
        texts = {
            address: sent
            for address, sent in common.sms_by_address(self.shared["twilio"]).items()
            if address.startswith("drill")
        }
        hashes = common.stored_hashes()
        stale = [a for a, sent in texts.items() if not passwords.verify(sent[-1], hashes.get(a))]
        timelines = {address: self.timeline(address, hashes.get(address)) for address in stale[:3]}
        return {
            "elapsed": elapsed,
            "done": sum(1 for _pk, state, *_ in jobs if state == "done"),
            "emails": sum(1 for *_x, email, _p in jobs if email == "sent"),
            "failed": len(failed),
            "failed_invalid": sum(1 for _pk, number in failed if number in invalid_phones),
            "invalid": len(invalid_phones),
            "pending": self.unsettled().count(),
            "max_attempts": max(attempts for _pk, _s, attempts, *_ in jobs),
            "over_default": sum(1 for _pk, _s, attempts, *_ in jobs if attempts > DEFAULT_ATTEMPTS),
            "sms": sum(len(sent) for sent in texts.values()),
            "mailboxes_with_sms": len(texts),
            "duplicates": sum(1 for sent in texts.values() if len(sent) > 1),
            "stale_last_sms": len(stale),
            "requests": len(self.shared["twilio"].requests),
            "kills": dict(self.kills),
            "timelines": timelines,
            "odd_jobs": list(
                ProvisioningJob.objects.filter(pk__in=odd[:5]).values(
                    "pk", "state", "email_status", "attempts", "email_attempts", "created_at",
                    "updated_at", "claimed_at", "next_attempt_at", "last_error",
                )
            ),
            "events": self.events,
            "broker": self.broker.name,
        }  # fmt: skip

    def timeline(self, address: str, stored: str | None) -> list[str]:
        """What the double saw for one address: each request and each message it accepted,
        the password numbered (never shown), and whether it is the one whose hash is stored."""
        from provisioning import passwords

        twilio, numbers, events = self.shared["twilio"], {}, []
        for request in list(twilio.requests):
            body = request["form"].get("Body", "")
            if address in body:
                secret = self.shape().search(body).group(0)
                number = numbers.setdefault(secret, len(numbers) + 1)
                events.append((request["received_at"], f"request with password #{number}"))
        for sid, message in list(twilio.messages.items()):
            if address in message["body"]:
                secret = self.shape().search(message["body"]).group(0)
                valid = "stored" if passwords.verify(secret, stored) else "not stored"
                text = f"accepted {sid[:8]}… password #{numbers.get(secret)} ({valid})"
                events.append((twilio.accepted_at[sid], text))
        return [f"t={at - self.start:6.2f} s {text}" for at, text in sorted(events)]

    @staticmethod
    def shape():
        from provisioning import passwords

        group = f"[{passwords.ALPHABET}]{{{passwords.GROUP_LENGTH}}}"
        return re.compile(rf"{group}(?:-{group}){{{passwords.GROUPS - 1}}}")

    def scan(self, app_db, mailpg, worker_log) -> dict:
        """Every password that left a worker, searched for wherever it must not be."""
        secrets = sorted(self.sent_passwords())
        folder = self.shared["folder"]
        mail_db = loopback.pg_url("bench_drill_mail", mailpg.port)
        sources = {
            "app database dump": [loopback.pg_dump(app_db)],
            "mail database dump": [loopback.pg_dump(mail_db)],
            **self.broker.sources(),
            "log files": [worker_log.read_bytes(), (folder / "bench.log").read_bytes()],
            "emails sent": leaks.email_texts(folder / "outbox"),
        }  # fmt: skip
        found = {name: leaks.hits(secrets, texts) for name, texts in sources.items()}
        found["passwords searched"] = len(secrets)
        found["emails searched"] = len(list((folder / "outbox").glob("*.eml")))
        found["broker records searched"] = len(self.broker.traffic_records())
        return found

    def sent_passwords(self) -> set[str]:
        shape = self.shape()
        bodies = [r["form"].get("Body", "") for r in list(self.shared["twilio"].requests)]
        return {match for body in bodies for match in shape.findall(body)}


def report(name: str, faults: set, plan: Plan, figures: dict) -> list[dict]:
    hits = figures["hits"]
    leaked = sum(v for k, v in hits.items() if not k.endswith("searched"))
    failed_ok = figures["failed"] == figures["failed_invalid"] == figures["invalid"]
    say(f"\n== Drill « {name} »: {plan.n} jobs; faults: {', '.join(sorted(faults))}")
    for event in figures["events"]:
        say(f"  {event}")
    say(f"  kills: {figures['kills']}; Twilio calls: {figures['requests']}")
    say(f"  settled after {figures['elapsed']:.0f} s (deadline {plan.deadline:.0f} s)")
    say(f"  jobs done: {figures['done']}/{plan.n}; emails sent: {figures['emails']}")
    say(f"  failed permanently: {figures['failed']} (invalid numbers: {figures['invalid']}, "
        f"of which failed: {figures['failed_invalid']})")  # fmt: skip
    say(f"  still pending after the deadline: {figures['pending']}")
    for job in figures["odd_jobs"]:
        say(f"    job not as expected: {job}")
    say(f"  SMS accepted: {figures['sms']} for {figures['mailboxes_with_sms']} mailboxes; "
        f"mailboxes with more than one SMS: {figures['duplicates']}")  # fmt: skip
    say(f"  last SMS does not hold the stored password (invariant 2): "
        f"{figures['stale_last_sms']} mailboxes")  # fmt: skip
    for address, events in figures["timelines"].items():
        say(f"    {address}, as the Twilio double saw it:")
        for event in events:
            say(f"      {event}")
    say(f"  attempts: at most {figures['max_attempts']}; jobs that needed more than "
        f"{DEFAULT_ATTEMPTS} (the former production limit): {figures['over_default']}")  # fmt: skip
    say(
        f"  plaintext passwords found ({hits['passwords searched']} searched, "
        f"{hits['emails searched']} emails, {hits['broker records searched']} "
        f"{figures['broker']} records):"
    )
    for source, count in hits.items():
        if not source.endswith("searched"):
            say(f"    {source}: {count}")
    return [
        row(f"{name}: done / failed (invalid) / pending",
            f"{figures['done']} / {figures['failed']} ({figures['failed_invalid']} of "
            f"{figures['invalid']}) / {figures['pending']}",
            f"failed = the {figures['invalid']} invalid, 0 pending",
            failed_ok and figures["pending"] == 0
            and figures["done"] == plan.n - figures["invalid"]),
        row(f"{name}: duplicate SMS; last SMS not valid",
            f"{figures['duplicates']} mailboxes; {figures['stale_last_sms']}",
            "last SMS valid everywhere", figures["stale_last_sms"] == 0),
        row(f"{name}: plaintext hits (dumps, {figures['broker']}, logs, emails)",
            f"{leaked} in {hits['passwords searched']} passwords", "0", leaked == 0),
        row(f"{name}: settled after; jobs over {DEFAULT_ATTEMPTS} attempts",
            f"{figures['elapsed']:.0f} s; {figures['over_default']}"),
    ]  # fmt: skip


def chosen_drills(broker) -> list[str]:
    wanted = (os.environ.get("BENCH_DRILLS") or "combined").strip()
    if wanted == "each":
        each = ["kill", "flush", "maildb", "twilio", "combined"]
        return each + ["restart"] if broker.restartable else each
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    unknown = [name for name in names if name not in DRILLS]
    if unknown:
        raise SystemExit(f"unknown drills {unknown}; choose among {', '.join(DRILLS)} or each")
    if "restart" in names and not broker.restartable:
        raise SystemExit(f"the restart drill needs BENCH_BROKER=rabbitmq, not {broker.name}")
    return names


def main() -> None:
    broker = brokers.chosen()
    plan, names = Plan(), chosen_drills(broker)
    say(f"[{common.stamp()}] drills {', '.join(names)} on {broker.name}: {plan.n} jobs each, "
        f"load average {common.load_average()}")  # fmt: skip
    rows, pg_port = [], env_int("BENCH_PG_PORT", 55432)
    with ExitStack() as stack:
        stack.enter_context(broker)
        folder = stack.enter_context(common.temp_dir("bench-drills-"))
        twilio = stack.enter_context(common.FakeTwilio())
        smtp = stack.enter_context(loopback.SmtpSink(folder / "outbox"))
        env = common.bench_env(
            app_db=loopback.pg_url(APP_DB),
            mail_db=loopback.pg_url("bench_drill_mail", pg_port),
            twilio=twilio,
            smtp=smtp,
            CELERY_BROKER_URL=broker.url,
            **SETTINGS,
        )
        common.django_setup(env, folder / "bench.log")
        shared = dict(twilio=twilio, folder=folder, env=env, pg_port=pg_port, broker=broker)
        for name in names:
            figures = Drill(name, DRILLS[name], plan, shared).run()
            rows += report(name, DRILLS[name], plan, figures)
    common.record("drills" if broker.name == "Redis" else "drills_rabbitmq", rows)


if __name__ == "__main__":
    main()
