"""tagstream as a Ray job: submitted to a real local cluster (``ray start --head``) with ``ray job submit`` and
``tagstream submit``, with token authentication on, against the embedded broker.

The head node is this module's own: its own temp dir, ports, and token (``RAY_AUTH_TOKEN``, so the
shared ``~/.ray/auth_token`` is neither read nor written). It runs as ``ray start --block`` in a
process group of its own, and teardown ends that group and whatever else runs from its temp dir,
by pid: ``ray stop`` would also end the Ray instances of other tests on the machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pathlib
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

import crashing_learner
import typer
from jobs import ray_job
from jobs import submit as jobs_submit
from jobs.broker import free_port
from jobs.checkpoint import CheckpointStore
from jobs.config import ConfigError
from jobs.produce import produce
from stream.records import Record
from stream.errors import TopicError
from stream.kafka import KafkaConfig
from stream.records import parse_prediction

from helpers import kafka_env, read_topic

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
JOB_CONFIG = "docker/tagstream-job.toml"
HEAD_START_TIMEOUT_S = 120.0
JOB_TIMEOUT_S = 240.0


# -- without a cluster ----------------------------------------------------------------------------


def test_request_builds_the_entrypoint_and_runtime_env():
    request = jobs_submit.make_request(ROOT, JOB_CONFIG, {"TAGSTREAM_LIMIT": "10"}, ["--bounded"], "job-1")
    assert request.entrypoint() == f"python -m jobs.ray_job --config {JOB_CONFIG} --bounded"
    env = request.runtime_env()
    assert env["working_dir"] == str(ROOT)
    assert env["env_vars"] == {"TAGSTREAM_LIMIT": "10"}
    assert ".venv/" in env["excludes"] and ".git/" in env["excludes"]
    assert request.submission_id == "job-1"


def test_request_accepts_a_config_path_relative_to_the_working_dir_or_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert jobs_submit.make_request(ROOT, JOB_CONFIG).config_file == JOB_CONFIG
    assert jobs_submit.make_request(ROOT, ROOT / JOB_CONFIG).config_file == JOB_CONFIG


def test_request_without_a_working_dir_uploads_nothing_and_passes_the_cluster_path():
    request = jobs_submit.make_request(None, "/etc/tagstream/job.toml", {"A": "1"})
    assert request.entrypoint() == "python -m jobs.ray_job --config /etc/tagstream/job.toml"
    assert request.runtime_env() == {"env_vars": {"A": "1"}}


def test_request_rejects_a_config_outside_the_working_dir(tmp_path):
    outside = tmp_path / "job.toml"
    outside.write_text('learners = ["majority"]\n')
    with pytest.raises(jobs_submit.SubmitError, match="outside the working dir"):
        jobs_submit.make_request(ROOT, outside)


def test_request_rejects_a_missing_config_and_a_working_dir_without_the_entrypoint(tmp_path):
    with pytest.raises(jobs_submit.SubmitError, match="does not exist"):
        jobs_submit.make_request(ROOT, "no/such/job.toml")
    with pytest.raises(jobs_submit.SubmitError, match="has no jobs/ray_job.py"):
        jobs_submit.make_request(tmp_path)


def test_request_checks_the_config_with_the_jobs_environment():
    with pytest.raises(ConfigError, match="no-such-learner"):
        jobs_submit.make_request(ROOT, JOB_CONFIG, {"TAGSTREAM_LEARNERS": "no-such-learner"})


def test_progress_log_is_rate_limited_but_always_shows_the_first_batch():
    now = [100.0]
    progress = ray_job.ProgressLog(lambda fields: None, ["majority"], every_s=5.0, clock=lambda: now[0])
    seen = []
    for t in (100.0, 101.0, 104.9, 105.0, 111.0):
        now[0] = t
        seen.append(progress.due())
    assert seen == [True, False, False, True, True]


# -- failures end the job with one line, not a traceback ----------------------------------------------


def _checkpoint_job_env(kafka_config: KafkaConfig, checkpoints: pathlib.Path, **settings: str) -> dict[str, str]:
    """A bounded job (it ends on its own if the failure did not happen) on this test's broker, checkpointing."""
    return kafka_env(kafka_config) | {
        "TAGSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka_config.bootstrap_servers,
        "TAGSTREAM_METRICS_HOST": "127.0.0.1",
        "TAGSTREAM_METRICS_PORT": "0",
        "TAGSTREAM_DASHBOARD_HOST": "127.0.0.1",
        "TAGSTREAM_DASHBOARD_PORT": "0",
        "TAGSTREAM_LEARNERS": "majority",
        "TAGSTREAM_BATCH_SIZE": "5",
        "TAGSTREAM_IDLE_TIMEOUT_S": "20",
        "TAGSTREAM_CHECKPOINT_DIR": str(checkpoints),
        "TAGSTREAM_CHECKPOINT_EVERY_S": "0.2",
        **{f"TAGSTREAM_{name.upper()}": value for name, value in settings.items()},
    }


def _assert_one_line_failure(output: str, reason: str) -> None:
    failures = [line for line in output.splitlines() if "job failed" in line]
    assert len(failures) == 1 and reason in failures[0], output[-3000:]
    assert "Traceback" not in output, output[-3000:]


@pytest.mark.slow
@pytest.mark.integration
def test_a_job_without_an_intact_checkpoint_exits_1_with_one_line(kafka_config, tmp_path):
    """The whole entrypoint, as Ray runs it (here on a local Ray of its own): exit 1, one line, no traceback."""
    checkpoints = tmp_path / "ckpt"
    for stage in ("learner-0", "extractor", "publisher"):
        (checkpoints / stage).mkdir(parents=True)
        (checkpoints / stage / "ckpt-000000000001.bin").write_bytes(b"not a checkpoint\n")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("RAY_", "TAGSTREAM_"))}
    env |= _checkpoint_job_env(kafka_config, checkpoints) | {"RAY_USAGE_STATS_ENABLED": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "jobs.ray_job", "--bounded"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=JOB_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
    _assert_one_line_failure(result.stderr, "is intact in every stage")
    assert "--fresh" in result.stderr
    assert '{"summary"' not in result.stdout



@pytest.fixture
def entrypoint(monkeypatch, capsys):
    """``ray_job.main`` called in this process with ``TAGSTREAM_*`` variables; returns its exit code and stderr.

    ``main`` sets up the root logger and a SIGTERM handler: both are put back afterwards.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    sigterm = signal.getsignal(signal.SIGTERM)

    def run(env: dict[str, str]) -> tuple[int, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        try:
            ray_job.main(follow=False)
        except typer.Exit as exit_:
            return exit_.exit_code, capsys.readouterr().err
        return 0, capsys.readouterr().err

    yield run
    root.handlers[:] = handlers
    root.setLevel(level)
    signal.signal(signal.SIGTERM, sigterm)


@pytest.mark.slow
@pytest.mark.integration
def test_a_job_with_a_key_refuses_foreign_checkpoints_with_one_line(ray_with_test_learners, entrypoint, kafka_config, tmp_path):
    checkpoints = tmp_path / "ckpt"
    for stage in ("learner-0", "extractor", "publisher"):  # a whole epoch, signed with another key
        CheckpointStore(str(checkpoints / stage), key=b"theirs").save({"step": 1}, epoch=1)
    key = tmp_path / "checkpoint.key"
    key.write_text("9b1e-our-key-7c0d\n")
    code, stderr = entrypoint(_checkpoint_job_env(kafka_config, checkpoints, checkpoint_key_file=str(key)))
    assert code == 1
    _assert_one_line_failure(stderr, "is intact in every stage")
    assert "learner-0: none (its signature does not match this job's key" in stderr  # the error says why, per stage
    assert "9b1e-our-key-7c0d" not in stderr  # the key itself is never printed


@pytest.mark.slow
@pytest.mark.integration
def test_a_job_past_its_recovery_budget_exits_1_with_one_line(ray_with_test_learners, entrypoint, kafka_config, tmp_path):
    records = [Record(f"r{i}", features={"a": float(i)}, labels=("x",)) for i in range(10)]
    records.append(Record("bomb", features={"a": 1.0, crashing_learner.MARK: 1.0}, labels=("x",)))
    produce(kafka_config, records)
    env = _checkpoint_job_env(kafka_config, tmp_path / "ckpt", max_recoveries="0")
    code, stderr = entrypoint(env | {"TAGSTREAM_LEARNERS": crashing_learner.NAME})
    assert code == 1
    _assert_one_line_failure(stderr, "1 actor failures within 600.0 s, more than max_recoveries=0; the last:")


# -- a real local cluster -------------------------------------------------------------------------


@dataclasses.dataclass
class Head:
    address: str  # job API, http://127.0.0.1:PORT
    env: dict  # environment of a client of this cluster (token included)
    temp_dir: pathlib.Path


def _client_env(token: str) -> dict:
    env = {name: value for name, value in os.environ.items() if not name.startswith("RAY_")}
    env |= {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        "RAY_USAGE_STATS_ENABLED": "0",
        # The job's `python` must be the one tagstream is installed in.
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    }
    return env


def _ours(temp_dir: str) -> list[int]:
    """Pids of the processes that run from ``temp_dir`` or name it on their command line (Linux /proc)."""
    pids = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if temp_dir in cmdline or cwd.startswith(temp_dir):
            pids.append(int(entry.name))
    return pids


def _end_cluster(head: subprocess.Popen, temp_dir: str) -> None:
    """Interrupt ``ray start --block`` (it then ends the processes it started), then end anything left.

    SIGINT, not SIGTERM: on SIGTERM ``ray start --block`` hangs and leaves processes behind.
    """
    with contextlib.suppress(ProcessLookupError):
        head.send_signal(signal.SIGINT)
    try:
        head.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=10)
    deadline = time.monotonic() + 10
    while left := _ours(temp_dir):  # job drivers run in sessions of their own
        if time.monotonic() > deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.5)


@pytest.fixture(scope="module")
def head():
    """A Ray head node of this module only, with token authentication, on free ports."""
    temp_dir = tempfile.mkdtemp(prefix="tsray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    token = secrets.token_hex(16)
    env = _client_env(token)
    dashboard_port = free_port()
    ports = {
        "--port": free_port(),
        "--dashboard-port": dashboard_port,
        "--ray-client-server-port": free_port(),
        "--node-manager-port": free_port(),
        "--object-manager-port": free_port(),
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--metrics-export-port": free_port(),
        "--runtime-env-agent-port": free_port(),
    }
    command = [
        str(BIN / "ray"),
        "start",
        "--head",
        "--block",
        "--num-cpus=2",
        "--dashboard-host=127.0.0.1",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
        *(f"{flag}={port}" for flag, port in ports.items()),
    ]
    log = open(pathlib.Path(temp_dir) / "ray-start.log", "wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard_port}"
    try:
        _wait_for_job_api(process, address, env, pathlib.Path(temp_dir) / "ray-start.log")
        yield Head(address, env, pathlib.Path(temp_dir))
    finally:
        _end_cluster(process, temp_dir)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_for_job_api(process, address: str, env: dict, log: pathlib.Path) -> None:
    deadline = time.monotonic() + HEAD_START_TIMEOUT_S
    probe = [str(BIN / "ray"), "job", "list", "--address", address]
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"ray start exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if subprocess.run(probe, env=env, capture_output=True, timeout=60).returncode == 0:
            return
        time.sleep(1.0)
    pytest.fail(f"the Ray job API at {address} did not answer within {HEAD_START_TIMEOUT_S} s")


def _job_env(kafka_config: KafkaConfig, state: pathlib.Path) -> dict[str, str]:
    """The job's configuration through TAGSTREAM_* variables, over the file: this test's broker and topics.

    The file's checkpoint location and key file are the compose stack's (a volume, a compose
    secret): here a folder and a key file in ``state`` instead, as on any machine outside the stack.
    """
    key = state / "checkpoint.key"
    key.write_text(secrets.token_hex(16) + "\n")
    return kafka_env(kafka_config) | {
        "TAGSTREAM_CHECKPOINT_DIR": str(state / "checkpoints"),
        "TAGSTREAM_CHECKPOINT_KEY_FILE": str(key),
        "TAGSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka_config.bootstrap_servers,
        "TAGSTREAM_METRICS_HOST": "127.0.0.1",
        "TAGSTREAM_METRICS_PORT": "0",
        "TAGSTREAM_DASHBOARD_HOST": "127.0.0.1",
        "TAGSTREAM_DASHBOARD_PORT": "0",
        "TAGSTREAM_BATCH_SIZE": "50",
        # Starting the actors on a busy 2-core machine can take longer than the default idle timeout.
        "TAGSTREAM_IDLE_TIMEOUT_S": "60",
        "TAGSTREAM_LEARNERS": "majority",  # over the file's learners: quick, and proves the env layer wins
    }


def _ray(head: Head, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "ray"), *args], env=head.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def _status(head: Head, job_id: str) -> str:
    result = _ray(head, "job", "status", "--address", head.address, job_id)
    assert result.returncode == 0, result.stderr
    text = result.stdout.lower()  # "Job 'x' succeeded", "... failed", "... was stopped", "... is currently running"
    for status in ("SUCCEEDED", "FAILED", "STOPPED", "RUNNING", "PENDING"):
        if status.lower() in text:
            return status
    raise AssertionError(f"no job status in {result.stdout!r}")


def _wait_terminal(head: Head, job_id: str) -> str:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while (status := _status(head, job_id)) not in ("SUCCEEDED", "FAILED", "STOPPED"):
        if time.monotonic() > deadline:
            _ray(head, "job", "stop", "--address", head.address, "--no-wait", job_id)
            pytest.fail(f"job {job_id} still {status} after {JOB_TIMEOUT_S} s")
        time.sleep(1.0)
    return status


def _predictions(kafka_config: KafkaConfig, count: int, timeout_s: float = 120.0) -> list:
    """The first ``count`` predictions; a job still starting may not have created its topics yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            messages = read_topic(kafka_config, kafka_config.topics.predictions, count, timeout_s=timeout_s)
        except TopicError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
            continue
        return [parse_prediction(m.value) for m in messages]


@pytest.mark.slow
@pytest.mark.integration
def test_ray_job_submit_runs_a_bounded_job_to_success(head, kafka_config, tmp_path):
    job_id = f"tagstream-test-{uuid.uuid4().hex[:8]}"
    result = _ray(
        head,
        "job",
        "submit",
        "--address",
        head.address,
        "--working-dir",
        ".",
        "--submission-id",
        job_id,
        "--runtime-env-json",
        json.dumps({"env_vars": _job_env(kafka_config, tmp_path)}),
        "--no-wait",
        "--",
        "python",
        "-m",
        "jobs.ray_job",
        "--config",
        JOB_CONFIG,
        "--dataset",
        "yeast",
        "--limit",
        "300",
        "--bounded",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    status = _wait_terminal(head, job_id)
    logs = _ray(head, "job", "logs", "--address", head.address, job_id)
    assert logs.returncode == 0, logs.stderr
    assert status == "SUCCEEDED", logs.stdout[-4000:]
    assert "msg=progress" in logs.stdout and "records_in=" in logs.stdout
    assert 'msg="job done" records_in=300 predictions_out=300' in logs.stdout
    summary = json.loads(next(line for line in logs.stdout.splitlines() if line.startswith('{"summary"')))["summary"]
    assert summary["records_in"] == 300 and summary["dead_letters"] == {}

    predictions = _predictions(kafka_config, 300)
    assert sorted(p.id for p in predictions) == sorted(f"yeast-{row}" for row in range(300))
    assert {p.learner for p in predictions} == {"majority"}


@pytest.mark.slow
@pytest.mark.integration
def test_tagstream_submit_follows_the_job_to_success(head, kafka_config, tmp_path):
    env_flags = [flag for name, value in _job_env(kafka_config, tmp_path).items() for flag in ("--env", f"{name}={value}")]
    result = subprocess.run(
        [str(BIN / "tagstream"), "submit", "--address", head.address, "--config", JOB_CONFIG, *env_flags,
         "--timeout", str(JOB_TIMEOUT_S), "--", "--dataset", "yeast", "--limit", "120", "--bounded"],
        env=head.env, cwd=ROOT, capture_output=True, text=True, timeout=JOB_TIMEOUT_S + 60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "submitted job" in result.stdout and "SUCCEEDED" in result.stdout
    assert "msg=progress" in result.stdout, result.stdout  # the job's log, streamed while waiting
    assert len(_predictions(kafka_config, 120)) == 120


@pytest.mark.slow
@pytest.mark.integration
def test_tagstream_submit_exits_1_when_the_job_fails(head, kafka_config, tmp_path):
    env = _job_env(kafka_config, tmp_path) | {
        # Nothing listens there: the job cannot create its topics and must end FAILED, not hang.
        "TAGSTREAM_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "TAGSTREAM_KAFKA__CONNECT_TIMEOUT_S": "2",
        "TAGSTREAM_KAFKA__ADMIN_TIMEOUT_S": "3",
    }
    env_flags = [flag for name, value in env.items() for flag in ("--env", f"{name}={value}")]
    result = subprocess.run(
        [str(BIN / "tagstream"), "submit", "--address", head.address, "--config", JOB_CONFIG, *env_flags,
         "--timeout", str(JOB_TIMEOUT_S), "--", "--bounded"],
        env=head.env, cwd=ROOT, capture_output=True, text=True, timeout=JOB_TIMEOUT_S + 60,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:]
    assert "FAILED" in result.stdout
    assert "job failed" in result.stdout


@pytest.mark.slow
@pytest.mark.integration
def test_a_follow_job_outlives_the_wait_and_stops_gracefully(head, kafka_config, tmp_path):
    job_id = f"tagstream-follow-{uuid.uuid4().hex[:8]}"
    env_flags = [flag for name, value in _job_env(kafka_config, tmp_path).items() for flag in ("--env", f"{name}={value}")]
    result = subprocess.run(
        [str(BIN / "tagstream"), "submit", "--address", head.address, "--config", JOB_CONFIG, *env_flags,
         "--submission-id", job_id, "--timeout", "5", "--", "--limit", "50", "--follow"],
        env=head.env, cwd=ROOT, capture_output=True, text=True, timeout=JOB_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 1
    # The client gave up while the job goes on: RUNNING, or still PENDING where the cluster took
    # longer than the 5 s to start the entrypoint (a busy machine); the predictions show it ran.
    assert re.search(rf"job {job_id} is still (PENDING|RUNNING) after", result.stderr), result.stderr
    assert len(_predictions(kafka_config, 50)) == 50  # the replay was processed
    stop = _ray(head, "job", "stop", "--address", head.address, job_id)
    assert stop.returncode == 0, stop.stderr
    assert _wait_terminal(head, job_id) == "STOPPED"
    logs = _ray(head, "job", "logs", "--address", head.address, job_id).stdout
    assert "SIGTERM received" in logs


def test_tagstream_submit_refuses_a_bad_config_before_submitting():
    result = subprocess.run(
        [str(BIN / "tagstream"), "submit", "--address", "http://127.0.0.1:9", "--config", JOB_CONFIG,
         "--env", "TAGSTREAM_BATCH_SIZE=0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "batch_size" in result.stderr


def test_tagstream_submit_names_the_address_it_cannot_reach():
    port = free_port()
    result = subprocess.run(
        [str(BIN / "tagstream"), "submit", "--address", f"http://127.0.0.1:{port}", "--config", JOB_CONFIG],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr
