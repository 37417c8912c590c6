"""A private RabbitMQ node on a loopback port, which a test or a drill may stop and start.

The machine's RabbitMQ (127.0.0.1:5672) serves every test run and every developer: a drill
that restarts the broker gets its own node instead, in a temporary folder, with its own name
and ports, through the same `rabbitmq-server` and `rabbitmqctl` (Debian's wrappers run them
as the `rabbitmq` user, which shares the Erlang cookie with the machine's node). Its queues
live on disk as a production node's do, so `restart()` shows what survives a broker restart.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import amqp
import kombu

START_TIMEOUT = 60  # seconds; the Erlang VM starts in about 4 s here


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRabbitMQ:
    """`with PrivateRabbitMQ() as node:` a node answering at `node.url`, gone afterwards."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.name = f"octopus-drill-{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.folder: Path | None = None

    def __enter__(self) -> "PrivateRabbitMQ":
        if answers(self.port):
            raise RuntimeError(f"127.0.0.1:{self.port} is taken: choose another port")
        self.folder = Path(tempfile.mkdtemp(prefix="rabbitmq-drill-"))
        (self.folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        (self.folder / "enabled_plugins").write_text("[].\n")
        if os.geteuid() == 0:
            shutil.chown(self.folder, "rabbitmq", "rabbitmq")
            for path in self.folder.iterdir():
                shutil.chown(path, "rabbitmq", "rabbitmq")
        try:
            subprocess.run(
                ["rabbitmq-server", "-detached"], env=self.env(), cwd=self.folder, check=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=START_TIMEOUT,
            )  # fmt: skip
            self.wait_until_it_answers()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.ctl("stop", check=False)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def env(self) -> dict:
        folder = self.folder
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(folder / "pid"),
        }

    def ctl(self, *command: str, check: bool = True) -> str:
        done = subprocess.run(
            ["rabbitmqctl", "-n", self.name, *command], cwd=self.folder or "/",
            capture_output=True, text=True, timeout=START_TIMEOUT, check=False,
        )  # fmt: skip
        if check and done.returncode:
            raise RuntimeError(f"rabbitmqctl {' '.join(command)}: {done.stderr or done.stdout}")
        return done.stdout

    def stop_app(self) -> None:
        """The broker goes away (its connections are closed); the Erlang node stays."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.wait_until_it_answers()

    def wait_until_it_answers(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if answers(self.port) and accepts_logins(self.url):
                return
            time.sleep(0.25)
        raise RuntimeError(f"the RabbitMQ node {self.name} did not answer on {self.port}")


def accepts_logins(url: str) -> bool:
    try:
        with kombu.Connection(url, connect_timeout=2) as connection:
            connection.connect()
        return True
    except (OSError, amqp.exceptions.AMQPError):  # refused, reset, or a node still booting
        return False


def queue_depth(url: str, queue: str = "celery") -> int:
    """Messages ready in `queue` (not counting those a consumer holds unacknowledged)."""
    with kombu.Connection(url, connect_timeout=5) as connection:
        return connection.default_channel.queue_declare(queue, passive=True).message_count
