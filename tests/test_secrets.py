"""Secrets stay out of errors, logs and Ray's runtime_env; what ``tagstream tail`` prints cannot drive the terminal."""

from __future__ import annotations

import json
import pathlib

import pytest
from typer.testing import CliRunner

from jobs import submit as jobs_submit
from jobs.cli import app
from jobs.config import ConfigError, JobConfig
from jobs.tail import format_message
from stream.kafka import Message

ROOT = pathlib.Path(__file__).resolve().parents[1]
PASSWORD = "hunter2-Sup3r-s3cret"


@pytest.mark.parametrize(
    "kafka",
    [
        {"security_protocol": "SASL_SSL", "sasl_password": PASSWORD},  # mechanism and user missing
        {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u", "sasl_password": 123456789},
        {"sasl_password": PASSWORD, "bootstrap_servers": "no-port", "acks": "some"},
    ],
)
def test_config_errors_never_print_the_sasl_password(kafka):
    with pytest.raises(ConfigError) as caught:
        JobConfig.load(overrides={"kafka": kafka})
    message = str(caught.value)
    assert "kafka" in message  # the error still says which setting is wrong
    for fragment in (PASSWORD, PASSWORD[:8], PASSWORD[-8:], "123456789"):
        assert fragment not in message


def test_config_show_masks_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("TAGSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TAGSTREAM_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("TAGSTREAM_KAFKA__SASL_USERNAME", "tagstream")
    monkeypatch.setenv("TAGSTREAM_KAFKA__SASL_PASSWORD", PASSWORD)
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output and PASSWORD[:8] not in result.output


@pytest.mark.parametrize(
    "name, value",
    [
        ("TAGSTREAM_KAFKA__SASL_PASSWORD", PASSWORD),
        ("RAY_AUTH_TOKEN", "abc"),
        ("AWS_SECRET_ACCESS_KEY", "abc"),
        ("TAGSTREAM_CHECKPOINT_DIR", f"s3://user:{PASSWORD}@minio:9000/bucket"),
    ],
)
def test_submit_refuses_secret_looking_env_values_unless_told(name, value):
    with pytest.raises(jobs_submit.SubmitError, match=name) as caught:
        jobs_submit.make_request(None, "/etc/tagstream/job.toml", {name: value, "TAGSTREAM_LIMIT": "10"})
    assert value not in str(caught.value) and "--allow-secret-env" in str(caught.value)
    request = jobs_submit.make_request(None, "/etc/tagstream/job.toml", {name: value}, allow_secret_env=True)
    assert request.runtime_env()["env_vars"] == {name: value}


def test_submit_command_refuses_before_contacting_the_cluster():
    # Nothing listens at the address: the refusal must come first, naming the variable only.
    result = CliRunner().invoke(
        app,
        ["submit", "--no-upload", "--address", "http://127.0.0.1:9", "--env", f"TAGSTREAM_KAFKA__SASL_PASSWORD={PASSWORD}"],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 1
    assert "TAGSTREAM_KAFKA__SASL_PASSWORD looks like a secret" in " ".join(result.output.split())
    assert PASSWORD not in result.output


def test_ordinary_env_values_pass():
    env = {"TAGSTREAM_KAFKA__BOOTSTRAP_SERVERS": "kafka:9092", "RAY_AUTH_MODE": "token", "TAGSTREAM_LIMIT": "10"}
    assert jobs_submit.make_request(None, None, env).runtime_env()["env_vars"] == env


def test_tail_escapes_control_characters_from_every_field():
    model_event = {
        "learner": "mlhat\x1b[2J",
        "level": "global",
        "kind": "drift\r\x1b[31mforged line",
        "labels": ["a\x07"],
        "node": "n\u202eevil",
        "instance": 1,
        "ts": 1.0,
        "detail": {},
    }
    prediction = {"id": "r\x1b]0;title\x07", "labels": ["x\x1b[1m"], "scores": {"x\x1b[1m": 0.9},
                  "learner": "m\x08", "model_version": 1, "latency_ms": 1.0, "ts": 1.0}  # fmt: skip
    for kind, value in (("model-events", model_event), ("predictions", prediction)):
        line = format_message(kind, Message("t", 0, 1, None, json.dumps(value).encode()))
        assert not any(ord(char) < 32 or char in "\x7f\u202e" for char in line), repr(line)
        assert "\\x1b" in line


def test_live_page_refuses_foreign_hosts_and_sends_csp_and_nosniff():
    import http.client

    from jobs.dashboard import LivePage, LiveState

    with LivePage(LiveState(["majority"], title="t"), "127.0.0.1", 0) as page:
        port = page._server.server_address[1]

        def get(path: str, host: str):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.putrequest("GET", path, skip_host=True)
            connection.putheader("Host", host)
            connection.endheaders()
            response = connection.getresponse()
            response.read()
            connection.close()
            return response

        for path in ("/", "/api/state", "/static/app.js"):
            # DNS rebinding: a foreign name that resolves to this machine reads nothing.
            assert get(path, f"evil.example:{port}").status == 403
            for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
                response = get(path, host)
                assert response.status == 200
                assert response.getheader("X-Content-Type-Options") == "nosniff"
                assert "default-src 'none'" in response.getheader("Content-Security-Policy")
                assert "frame-ancestors 'none'" in response.getheader("Content-Security-Policy")
        assert get("/nope", f"localhost:{port}").getheader("X-Content-Type-Options") == "nosniff"
