"""Runs every benchmark and fault drill, one process each, and writes bench/RESULTS.md.

Run: make bench   (or .venv/bin/python bench/run_all.py; BENCH_N and friends scale them up,
BENCH_ONLY=throughput,admin picks some)
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402

SCRIPTS = {
    "throughput": "throughput.py",
    "throughput_rabbitmq": "throughput.py",
    "admin": "admin_scale.py",
    "drills": "fault_drills.py",
    "concurrency": "concurrency.py",
    "public": "public_timing.py",
    "api": "api.py",
}
# The same throughput run on the second broker (its profile is the Redis run's).
RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
EXTRA_ENV = {
    "throughput_rabbitmq": {
        "BENCH_NAME": "throughput_rabbitmq",
        "BENCH_BROKER_URL": RABBITMQ_URL,
        "BENCH_PROFILE_N": "0",
        "BENCH_DB_PREFIX": "bench_tpr",
    },
}
# RESULTS.md keeps, below the figures this script writes, the sections written by hand
# (a change's figures before and after, with how they were measured): they start here.
KEPT_FROM = "\n## "
TIMEOUT = common.env_int("BENCH_SCRIPT_TIMEOUT", 1200)  # seconds, for one script
PARAMETERS = ("BENCH_N", "BENCH_PROFILE_N", "BENCH_CONCURRENCY", "BENCH_ADMIN_MAILBOXES",
              "BENCH_DRILLS", "BENCH_DRILL_N", "BENCH_DRILL_SEED", "MAILSERVER_PASSWORD_SCHEME",
              "BENCH_SETTINGS", "BENCH_BROKER_URL", "BENCH_IDLE_N", "BENCH_BACKLOG",
              "PROVISIONING_BATCH_SIZE", "SMS_CONCURRENCY")  # fmt: skip


def run(name: str, folder: Path) -> tuple[int, float]:
    script = Path(__file__).with_name(SCRIPTS[name])
    env = {**os.environ, "BENCH_RESULTS_DIR": str(folder), **EXTRA_ENV.get(name, {})}
    start = time.monotonic()
    process = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        code = process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        common.say(f"*** {name}: stopped after {TIMEOUT} s ***")
        process.terminate()  # SIGTERM: the script stops its workers and drops its databases
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
        code = -1
    return code, time.monotonic() - start


def markdown(header: dict, results: list[dict], runs: dict) -> str:
    lines = [
        "# Benchmark and fault-drill results",
        "",
        "Written by `make bench` (`bench/run_all.py`); each script prints more than this.",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {key} | {value} |" for key, value in header.items()),
        "",
        "| benchmark | figure | value | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    marks = {True: "yes", False: "**NO**", None: ""}
    for result in results:
        for item in result["rows"]:
            lines.append(
                f"| {result['bench']} | {item['figure']} | {item['value']} | {item['target']} "
                f"| {marks[item['met']]} |"
            )
    lines += ["", "Run times and load averages at the end of each script:", ""]
    loads = {result["bench"]: result["load_end"] for result in results}
    lines += [
        f"- {name}: {seconds:.0f} s, exit {code}, load {loads.get(name, '?')}"
        for name, (code, seconds) in runs.items()
    ]
    notes = [note for result in results for note in result["notes"]]
    if notes:
        lines += ["", "Notes:", "", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def main() -> None:
    only = [name for name in (os.environ.get("BENCH_ONLY") or "").split(",") if name]
    names = [name for name in SCRIPTS if not only or name in only]
    machine = common.machine()
    header = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{machine['nproc']} CPUs ({machine['cpu']}), {machine['ram_gib']} GiB RAM, "
        f"Python {machine['python']}",
        "load average at start (1, 5, 15 min)": common.load_average(),
        "commit": common.git_commit(),
        "parameters": ", ".join(
            f"{key}={os.environ[key]}" for key in PARAMETERS if os.environ.get(key)
        )
        or "defaults",  # fmt: skip
    }
    start = time.monotonic()
    runs, results = {}, []
    with tempfile.TemporaryDirectory(prefix="bench-results-") as folder:
        for name in names:
            common.say(f"\n######## {name} ########")
            runs[name] = run(name, Path(folder))
            path = Path(folder, f"{name}.json")
            if path.exists():
                results.append(json.loads(path.read_text()))
    header["total time"] = f"{time.monotonic() - start:.0f} s"
    output = Path(__file__).with_name("RESULTS.md")
    previous = output.read_text() if output.exists() else ""
    kept = previous[previous.find(KEPT_FROM) :] if KEPT_FROM in previous else ""
    output.write_text(markdown(header, results, runs) + kept)
    common.say(f"\n{output.read_text()}")
    failed = [name for name, (code, _s) in runs.items() if code != 0]
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
