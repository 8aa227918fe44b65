"""Start-up checks before side effects, an unreachable broker at start, and SIGTERM of ``tagstream run``."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from typer.testing import CliRunner

from jobs import cli_run, job, ray_job
from jobs.cli import app
from jobs.config import JobConfig
from jobs.startup import PortTaken


class NoBroker:
    """Stands in for the embedded broker where a test shows that none is started."""

    def __init__(self, *args, **kwargs):
        raise AssertionError("the embedded broker was started before the start-up checks failed")


@pytest.fixture
def taken_port():
    """A port of 127.0.0.1 that another socket listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def invoke(*args):
    return CliRunner().invoke(app, ["run", "--learner", "majority", "--limit", "10", *args], env={"COLUMNS": "200"})


@pytest.mark.parametrize(
    ("flag", "other", "component"),
    [("--metrics-port", "--dashboard-port", "metrics endpoint"), ("--dashboard-port", "--metrics-port", "live page")],
)
def test_a_taken_port_names_component_and_flag_before_the_broker_starts(monkeypatch, taken_port, flag, other, component):
    monkeypatch.setattr(cli_run, "EmbeddedBroker", NoBroker)
    result = invoke(flag, str(taken_port), other, "0")
    assert result.exit_code == 1, result.output
    message = " ".join(result.output.split())
    assert f"the {component} cannot listen on 127.0.0.1:{taken_port}" in message
    assert "already in use" in message
    assert f"choose another port with {flag}" in message
    assert "Traceback" not in result.output


def test_an_unknown_dataset_is_rejected_before_the_broker_starts(monkeypatch):
    monkeypatch.setattr(cli_run, "EmbeddedBroker", NoBroker)
    result = invoke("--dataset", "no-such-dataset", "--metrics-port", "0", "--dashboard-port", "0")
    assert result.exit_code == 1, result.output
    assert "no-such-dataset" in result.output
    assert "embedded broker" not in result.output


def test_the_ray_job_checks_dataset_and_ports_before_ray_and_topics(monkeypatch, taken_port):
    def no_ray(config, *args, **kwargs):
        raise AssertionError("Ray was started before the start-up checks failed")

    monkeypatch.setattr(job, "init_ray", no_ray)  # the path run and the Ray job share
    with pytest.raises(PortTaken, match=f"127.0.0.1:{taken_port}.*metrics_port in the config file or TAGSTREAM_METRICS_PORT"):
        ray_job.run_job(JobConfig(learners=["majority"], metrics_port=taken_port, dashboard_port=0))
    with pytest.raises(KeyError, match="no-such-dataset"):
        ray_job.run_job(JobConfig(learners=["majority"], dataset="no-such-dataset", metrics_port=0, dashboard_port=0))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.integration
def test_an_unreachable_broker_at_start_is_a_clear_error_naming_the_address():
    address = f"127.0.0.1:{_closed_port()}"
    command = [sys.executable, "-m", "jobs.cli", "run", "-b", address, "--learner", "majority", "--bounded",
               "--metrics-port", "0", "--dashboard-port", "0"]  # fmt: skip
    # A generous deadline, not a timing assertion: the job must end by itself, once it has tried to
    # connect for connect_timeout_s (2 s here: nothing listens, so the default 10 s would only wait).
    env = os.environ | {"COLUMNS": "200", "TAGSTREAM_KAFKA__CONNECT_TIMEOUT_S": "2"}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    error = " ".join(completed.stderr.split())
    assert f"no broker reachable at {address}" in error
    assert "Traceback" not in completed.stderr


def _latest_checkpoint(folder: pathlib.Path) -> dict:
    from jobs.checkpoint import CheckpointStore

    return CheckpointStore(str(folder)).load_latest()


@pytest.mark.integration
@pytest.mark.slow
def test_sigterm_drains_checkpoints_and_writes_the_summary(tmp_path):
    """``tagstream run --follow`` on the embedded broker, SIGTERM once its replay is predicted: exit 0,
    a summary that counts every record, and a final checkpoint that covers all of them."""
    checkpoints, out = tmp_path / "ckpt", tmp_path / "out"
    command = [sys.executable, "-m", "jobs.cli", "run", "--learner", "majority", "--limit", "300", "--follow",
               "--checkpoint-dir", str(checkpoints), "--checkpoint-every", "600",
               "--metrics-port", "0", "--dashboard-port", "0", "--out", str(out)]  # fmt: skip
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(job.stdout), daemon=True)
    reader.start()
    try:
        # Port 0: the chosen port is printed; the job is stopped once /metrics counts every prediction.
        deadline = time.monotonic() + 240
        while _predictions_out(lines) < 300:
            assert job.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.5)
        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=120) == 0, "".join(lines)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    reader.join(timeout=10)
    assert "stopping on SIGTERM" in "".join(lines)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["records_in"] == summary["predictions_out"] == 300
    assert summary["checkpoints"] >= 1  # the final one, written after the drain (the period is 600 s)
    state = _latest_checkpoint(checkpoints / "learner-0")
    assert state["learned"]["majority"] == 300
    assert list(state["offsets"].values()) == [300]


def _predictions_out(lines: list[str]) -> float:
    """``tagstream_predictions_out_total`` read from the metrics URL the run printed (0 before it is up)."""
    found = [re.search(r"metrics on (http://127\.0\.0\.1:(\d+)/metrics)", line) for line in list(lines)]
    url = next((match for match in found if match), None)
    if url is None:
        return 0
    assert int(url.group(2)) != 0
    try:
        with urllib.request.urlopen(url.group(1), timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return 0
    match = re.search(r"^tagstream_predictions_out_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0


LISTENERS_OF_LOCAL_RAY = r"""
import json, os, re, shutil, subprocess, ray
from jobs.config import JobConfig
from jobs.pipeline.driver import init_ray

init_ray(JobConfig(ray_num_cpus=1))
ray.get(ray.remote(lambda: 1).remote())  # a worker is up too
gcs = ray.get_runtime_context().gcs_address
port = gcs.rsplit(":", 1)[1]
ours = set()
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    if re.search(rf"(gcs[-_]address=[^ ]*:{port}|gcs_server_port={port})\b", cmdline):
        ours.add(pid)
listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout.splitlines()
addresses = [line.split()[3] for line in listening if any(f"pid={pid}," in line for pid in ours)]
print(json.dumps({"gcs": gcs, "processes": len(ours), "addresses": addresses}))
ray.shutdown()
"""


@pytest.mark.integration
def test_the_local_ray_of_a_run_listens_on_loopback_only():
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is needed to list listening sockets")
    completed = subprocess.run([sys.executable, "-c", LISTENERS_OF_LOCAL_RAY], capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-3000:]
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    assert found["gcs"].startswith("127.0.0.1:")
    assert found["processes"] >= 2 and found["addresses"], found  # the GCS and the raylet at least
    for address in found["addresses"]:
        host = address.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
        assert host in ("127.0.0.1", "::1"), found


BESIDE_A_RAY_CLUSTER = r"""
import json, ray
from ray._common.utils import reset_ray_address
from ray._private.utils import read_ray_address
from ray.cluster_utils import Cluster
from jobs.config import JobConfig
from jobs.pipeline.driver import init_ray

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
try:
    advertised = read_ray_address() == cluster.address  # where a plain ray.init() looks for a cluster
    init_ray(JobConfig(ray_num_cpus=2))
    joined = ray.get_runtime_context().gcs_address
    print(json.dumps({"advertised": advertised, "cluster": cluster.address, "joined": joined, "cpus": ray.cluster_resources().get("CPU")}))
    ray.shutdown()
finally:
    if read_ray_address() == cluster.address:
        reset_ray_address()
    cluster.shutdown()
"""


@pytest.mark.integration
def test_a_run_starts_its_own_ray_beside_a_cluster_started_on_the_machine():
    completed = subprocess.run([sys.executable, "-c", BESIDE_A_RAY_CLUSTER], capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr[-3000:]
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    assert found["advertised"], found
    assert found["joined"] != found["cluster"] and found["cpus"] == 2, found
