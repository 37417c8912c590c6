"""The broker a drill runs on, with what the drill does to it and how it reads it back.

BENCH_BROKER=redis (default): a Redis database of the bench's own (BENCH_REDIS_URL); the
« flush » fault empties it; every command it receives is recorded with MONITOR.
BENCH_BROKER=rabbitmq: a private RabbitMQ node on BENCH_RABBITMQ_PORT (tests/rabbitnode.py),
never the machine's own, since the « restart » fault stops and starts it; « flush » purges
its queue; every message it routes is copied by its firehose (`rabbitmqctl trace_on`) to a
queue this process reads.
"""

import os
import threading
import time
from contextlib import ExitStack

from bench import leaks, loopback
from bench.common import env_int


def chosen() -> "RedisBroker | RabbitBroker":
    name = (os.environ.get("BENCH_BROKER") or "redis").strip().lower()
    if name == "redis":
        return RedisBroker()
    if name == "rabbitmq":
        return RabbitBroker(env_int("BENCH_RABBITMQ_PORT", 55672))
    raise SystemExit(f"unknown BENCH_BROKER {name!r}; choose redis or rabbitmq")


class RedisBroker:
    name, restartable = "Redis", False
    url = loopback.REDIS_URL

    def __enter__(self) -> "RedisBroker":
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def for_one_drill(self, stack: ExitStack) -> None:
        """Fresh for each drill: emptied, then recorded."""
        self.client = stack.enter_context(loopback.redis_database(self.url))
        self.traffic = stack.enter_context(leaks.RedisTraffic(self.url))

    def flush(self) -> str:
        self.client.flushdb()
        return "Redis database flushed"

    def traffic_records(self) -> list[bytes]:
        return self.traffic.commands

    def sources(self) -> dict[str, list[bytes]]:
        return {
            "Redis commands received": self.traffic.commands,
            "Redis keys left": leaks.redis_contents(self.client),
        }


class RabbitBroker:
    name, restartable = "RabbitMQ", True

    def __init__(self, port: int) -> None:
        from tests.rabbitnode import PrivateRabbitMQ

        self.node = PrivateRabbitMQ(port)
        self.url = self.node.url

    def __enter__(self) -> "RabbitBroker":
        self.node.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self.node.__exit__(*exc_info)

    def for_one_drill(self, stack: ExitStack) -> None:
        self.purge()
        self.traffic = stack.enter_context(Firehose(self.node))

    def purge(self) -> int:
        import kombu

        with kombu.Connection(self.url, connect_timeout=5) as connection:
            channel = connection.default_channel
            try:
                return channel.queue_purge("celery") or 0
            except connection.channel_errors:  # no queue yet: the first drill
                return 0

    def flush(self) -> str:
        return f"RabbitMQ queue purged ({self.purge()} messages waiting lost)"

    def stop(self) -> None:
        self.node.stop_app()

    def start_again(self) -> None:
        """What survives the restart is what the node kept on disk."""
        self.node.start_app()
        self.traffic.tracing_on()  # the firehose does not outlive a restart

    def traffic_records(self) -> list[bytes]:
        return self.traffic.messages

    def sources(self) -> dict[str, list[bytes]]:
        return {
            "RabbitMQ messages routed (firehose)": self.traffic.messages,
            "RabbitMQ messages left": self.messages_left(),
        }

    def messages_left(self) -> list[bytes]:
        """Every message still in a queue, read without acknowledging (they stay)."""
        import kombu

        lines = self.node.ctl("list_queues", "name", "messages", "--quiet", "--no-table-headers")
        left = []
        with kombu.Connection(self.url, connect_timeout=5) as connection:
            channel = connection.channel()
            for name, count in (line.split() for line in lines.splitlines() if line.strip()):
                for _ in range(int(count)):
                    message = channel.basic_get(name, no_ack=False)
                    if message is None:
                        break
                    left += [message.body, repr(message.headers).encode()]
        return left


class Firehose:
    """Every message the node routes, as published and as delivered, read from its trace
    exchange (amq.rabbitmq.trace) by a thread of this process, which reconnects after a
    restart. Messages routed while the node was down for a restart, or before it came back,
    are not seen: none can be routed then."""

    def __init__(self, node) -> None:
        self.node = node
        self.messages: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._record, name="firehose", daemon=True)

    def __enter__(self) -> "Firehose":
        self.tracing_on()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        time.sleep(1)  # the last messages routed reach the trace queue
        self._stop.set()
        self._thread.join(10)
        self.node.ctl("trace_off", check=False)

    def tracing_on(self) -> None:
        self.node.ctl("trace_on")

    def _keep(self, message) -> None:
        self.messages += [message.body, repr(message.headers).encode()]

    def _record(self) -> None:
        import kombu

        trace = kombu.Exchange("amq.rabbitmq.trace", type="topic", passive=True)
        queue = kombu.Queue("bench.firehose", trace, routing_key="#", auto_delete=True)
        while not self._stop.is_set():
            try:
                with kombu.Connection(self.node.url, connect_timeout=2) as connection:
                    with connection.Consumer(queue, on_message=self._keep, no_ack=True):
                        while not self._stop.is_set():
                            try:
                                connection.drain_events(timeout=0.5)
                            except TimeoutError:
                                pass
            except Exception:  # noqa: BLE001 - the node is restarting: read again once it is back
                time.sleep(0.5)
