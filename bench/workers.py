"""Celery workers as the bench runs them: real `celery worker` processes, each in its own
process group, whose CPU time is read from /proc and which can be killed and restarted."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT

CELERY = Path(sys.executable).with_name("celery")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # [state, ppid, pgrp, ..., utime at 11, stime 12, ...]


class Worker:
    """One `celery -A octopus_mail worker -P prefork` subprocess, in its own process group.

    Its log (stdout and stderr) is appended to `log_path` across restarts.
    """

    def __init__(self, env: dict, log_path: Path, *, concurrency: int = 2, name: str = "bench"):
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.name = name
        self.starts = 0
        self.proc: subprocess.Popen | None = None
        self.dead_cpu = 0.0  # CPU of the process groups killed or stopped so far

    def command(self) -> list[str]:
        return [
            str(CELERY), "-A", "octopus_mail", "worker", "-P", "prefork",
            "--concurrency", str(self.concurrency), "--loglevel", "INFO",
            "-n", f"{self.name}-{self.starts}@%h", "--without-mingle", "--without-gossip",
        ]  # fmt: skip

    def __enter__(self) -> "Worker":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self, timeout: float = 90, wait: bool = True) -> None:
        self.starts += 1
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_ready(offset, timeout)

    def wait_ready(self, offset: int = 0, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the worker exited at start-up:\n{self.log_tail(offset)}")
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                if b" ready." in log.read():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the worker was not ready after {timeout} s:\n{self.log_tail(offset)}")

    def log_tail(self, offset: int = 0) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")[-3000:]

    def pids(self) -> list[int]:
        """The main process and its pool children (everything in its process group)."""
        if self.proc is None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat and int(stat[2]) == self.proc.pid:
                    found.append(int(entry.name))
        return found

    def children(self) -> list[int]:
        return [pid for pid in self.pids() if pid != self.proc.pid]

    def cpu_seconds(self) -> float:
        """User + system CPU of the worker's processes so far, including children it reaped
        and the process groups of earlier starts."""
        total = 0
        for pid in self.pids():
            stat = _stat(pid)
            if stat:
                total += int(stat[11]) + int(stat[12])
                if pid == self.proc.pid:
                    total += int(stat[13]) + int(stat[14])  # reaped children
        return self.dead_cpu + total / CLOCK_TICKS

    def kill_child(self, rng) -> int | None:
        """SIGKILL one pool process (the main process starts another one)."""
        children = self.children()
        if not children:
            return None
        pid = rng.choice(children)
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and pool, as a crash or an OOM kill."""
        self.dead_cpu = self.cpu_seconds()
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self, timeout: float = 10) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL for whatever is left of the group."""
        if self.proc is None:
            return
        self.dead_cpu = self.cpu_seconds()
        try:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        finally:
            self._signal_group(signal.SIGKILL)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None

    def _signal_group(self, sig) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
