"""Concurrency: 20 password resets of one mailbox at once, half from the admin (the list's
reset action, POSTed by test clients in threads), half from the command line
(`manage.py resetpassword ADDRESS --no-wait` subprocesses), with a real worker running.

Invariant 3: a request that finds a delivery in flight joins it; so few SMS go out, one
delivery at a time, and the last SMS holds the password whose hash is stored. Twilio (the
double) takes BENCH_CC_SMS_DELAY seconds to answer, as on a slow day: the deliveries stay
in flight while the requests arrive.

Then a race of another kind: a second doorbell for a job that waits for its retry after a
Twilio timeout (a sweep's doorbell still in the queue, a redelivered message). Twilio
accepts the timed-out message a second after the client gave up; the job must not be sent
again before its backoff ends, or the member's last SMS holds a dead password.

Run: .venv/bin/python bench/concurrency.py   (BENCH_CC_ADMIN=10 BENCH_CC_CLI=10 BENCH_CC_BELLS=5)
"""

import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, loopback, workers  # noqa: E402
from bench.admin_scale import logged_in_client  # noqa: E402
from bench.common import env_float, env_int, row, say  # noqa: E402

BENCH = "concurrency"
SMS_TIMEOUT = 3  # seconds: the contest's slow answers stay under it, the race's stalls over


def cli(env: dict, address: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "resetpassword", address, "--no-wait"],
        cwd=common.ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def admin_resets(count: int, mailbox_pk: int, go: threading.Event, statuses: list[int]):
    """`count` threads, each with its logged-in client, that POST the reset action on `go`."""
    from django.db import connections

    def post(client) -> None:
        try:
            go.wait(60)
            response = client.post(
                "/admin/accounts/mailbox/",
                {"action": "reset_password", "_selected_action": [str(mailbox_pk)], "index": 0},
            )
            statuses.append(response.status_code)
        finally:
            connections.close_all()

    clients = [logged_in_client(f"bench-admin-{n}") for n in range(count)]
    threads = [threading.Thread(target=post, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    return threads


def cli_start_seconds(env: dict) -> float:
    """How long a command takes to reach the database (it refuses an unknown address)."""
    start = time.monotonic()
    cli(env, "personne@octopus-soignies.be").communicate(timeout=120)
    return time.monotonic() - start


def in_flight(mailbox_pk: int) -> int:
    from django.db.models import Q

    from provisioning.models import ProvisioningJob

    return (
        ProvisioningJob.objects.filter(mailbox_id=mailbox_pk)
        .filter(Q(state__in=["queued", "running"]) | Q(email_status__in=["queued", "running"]))
        .count()
    )


def contest(env: dict, twilio, mailbox_pk: int, address: str, figures: dict) -> None:
    from provisioning.models import ProvisioningJob

    n_admin, n_cli = env_int("BENCH_CC_ADMIN", 10), env_int("BENCH_CC_CLI", 10)
    delay = env_float("BENCH_CC_SMS_DELAY", 2)
    startup = cli_start_seconds(env)
    before = set(ProvisioningJob.objects.filter(mailbox_id=mailbox_pk).values_list("pk", flat=True))
    sms_before = len(common.sms_by_address(twilio).get(address, []))
    go, statuses = threading.Event(), []
    threads = admin_resets(n_admin, mailbox_pk, go, statuses)
    twilio.stall_next(delay, times=n_admin + n_cli + 5)  # slow answers, under SMS_TIMEOUT
    commands = [cli(env, address) for _ in range(n_cli)]
    time.sleep(startup * 0.8)  # the commands reach the database about now
    go.set()
    outputs = [command.communicate(timeout=120)[0].decode() for command in commands]
    for thread in threads:
        thread.join(60)
    common.wait_until(lambda: in_flight(mailbox_pk) == 0, timeout=60)
    jobs = list(
        ProvisioningJob.objects.filter(mailbox_id=mailbox_pk)
        .exclude(pk__in=before)
        .order_by("created_at", "pk")
        .values("pk", "state", "created_at", "finished_at")
    )
    sent = common.sms_by_address(twilio).get(address, [])
    figures.update(
        requests=n_admin + n_cli,
        admin=n_admin,
        cli=n_cli,
        admin_ok=sum(1 for status in statuses if status == 302),
        cli_ok=sum(1 for command in commands if command.returncode == 0),
        cli_joined=sum("déjà en cours" in output for output in outputs),
        jobs=len(jobs),
        done=sum(1 for job in jobs if job["state"] == "done"),
        sms=len(sent) - sms_before,
        overlapping=sum(
            1
            for a, b in zip(jobs, jobs[1:], strict=False)
            if a["finished_at"] is None or b["created_at"] < a["finished_at"]
        ),
        delay=delay,
        startup=startup,
        last=sent[-1] if sent else "",
    )


def early_doorbells(twilio, figures: dict) -> None:
    """Each job's first SMS times out (Twilio accepts it 1 s later); as soon as the job is
    back in the queue waiting for its retry, a second doorbell rings for it."""
    from provisioning import passwords, tasks
    from provisioning.models import ProvisioningJob

    count = env_int("BENCH_CC_BELLS", 5)
    twilio.reset()  # the contest's unused slow answers go
    twilio.stall_next(SMS_TIMEOUT + 1, times=count)
    pks = common.create_mailboxes(count, prefix="bell", phone=lambda i: f"+32471{i:06d}")
    waiting = set(pks)

    def ring_released() -> bool:
        released = ProvisioningJob.objects.filter(pk__in=waiting, state="queued", attempts=1)
        for pk in released.values_list("pk", flat=True):
            tasks.deliver_password.delay(pk)
            waiting.discard(pk)
        return not waiting

    common.wait_until(ring_released, timeout=60, interval=0.02)
    unfinished = ProvisioningJob.objects.filter(pk__in=pks, state__in=["queued", "running"])
    common.wait_until(lambda: not unfinished.exists(), timeout=120)
    time.sleep(SMS_TIMEOUT + 2)  # the stalled answers are all in
    common.close_connections()
    texts, hashes = common.sms_by_address(twilio), common.stored_hashes()
    mine = {address: sent for address, sent in texts.items() if address.startswith("bell")}
    figures["bells"] = count
    figures["bell_sms"] = sum(len(sent) for sent in mine.values())
    figures["bell_stale"] = sum(
        not passwords.verify(sent[-1], hashes.get(address)) for address, sent in mine.items()
    )


def main() -> None:
    say(f"[{common.stamp()}] concurrency: load average {common.load_average()}")
    figures: dict = {}
    with ExitStack() as stack:
        folder = stack.enter_context(common.temp_dir("bench-concurrency-"))
        app_db, mail_db = stack.enter_context(
            loopback.scratch_databases("bench_cc_app", "bench_cc_mail")
        )
        twilio = stack.enter_context(common.FakeTwilio())
        smtp = stack.enter_context(loopback.SmtpSink(folder / "outbox"))
        stack.enter_context(loopback.redis_database())
        env = common.bench_env(
            app_db=app_db, mail_db=mail_db, twilio=twilio, smtp=smtp, SMS_TIMEOUT=SMS_TIMEOUT
        )
        common.django_setup(env, folder / "bench.log")
        common.migrate()
        stack.enter_context(workers.Worker(env, folder / "worker.log", concurrency=2))
        from provisioning import mailserver, passwords

        [job] = common.create_mailboxes(1, prefix="pierre")
        address = "pierre00000@octopus-soignies.be"
        common.wait_until(lambda: in_flight_job(job) == 0, timeout=60)
        mailbox_pk = mailbox_of(job)
        contest(env, twilio, mailbox_pk, address, figures)
        common.close_connections()
        stored = (mailserver.user_row(address) or {}).get("password", "")
        figures["last_valid"] = bool(figures["last"]) and passwords.verify(figures["last"], stored)
        early_doorbells(twilio, figures)
    common.record(BENCH, report(figures))


def in_flight_job(job_pk: int) -> int:
    from provisioning.models import ProvisioningJob

    return in_flight(ProvisioningJob.objects.get(pk=job_pk).mailbox_id)


def mailbox_of(job_pk: int) -> int:
    from provisioning.models import ProvisioningJob

    return ProvisioningJob.objects.get(pk=job_pk).mailbox_id


def report(figures: dict) -> list[dict]:
    say(f"\n== Concurrency: {figures['requests']} resets of one mailbox at once "
        f"({figures['admin']} admin POSTs, {figures['cli']} commands; a command takes "
        f"{figures['startup']:.1f} s to start; Twilio answers in "
        f"{figures['delay']:.0f} s)")  # fmt: skip
    say(f"  admin requests answered 302: {figures['admin_ok']}/{figures['admin']}; commands "
        f"exited 0: {figures['cli_ok']}/{figures['cli']} ({figures['cli_joined']} said they "
        f"joined a delivery in flight)")  # fmt: skip
    say(f"  deliveries started: {figures['jobs']} (done {figures['done']}); the other "
        f"{figures['requests'] - figures['jobs']} requests joined one in flight")  # fmt: skip
    say(f"  SMS sent: {figures['sms']}; deliveries overlapping in time: {figures['overlapping']}")
    say(f"  the last SMS holds the valid password: {'yes' if figures['last_valid'] else 'NO'}")
    say(f"\n== A second doorbell while a job waits for its retry after a Twilio timeout "
        f"({figures['bells']} jobs; Twilio accepts the timed-out message 1 s late)")  # fmt: skip
    say(f"  SMS sent: {figures['bell_sms']}; mailboxes whose last SMS holds a dead password: "
        f"{figures['bell_stale']}")  # fmt: skip
    ok = figures["admin_ok"] == figures["admin"] and figures["cli_ok"] == figures["cli"]
    return [
        row("20 resets at once → deliveries / SMS",
            f"{figures['jobs']} / {figures['sms']} ({figures['requests'] - figures['jobs']} "
            f"joined one in flight)", "one at a time",
            ok and figures["overlapping"] == 0 and figures["sms"] == figures["jobs"]),
        row("last SMS holds the valid password",
            "yes" if figures["last_valid"] else "no", "yes", figures["last_valid"]),
        row("doorbell during a retry's backoff: last SMS holds a dead password",
            f"{figures['bell_stale']} of {figures['bells']} mailboxes", "0",
            figures["bell_stale"] == 0),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
