"""JobConfig: defaults, file < environment < flags, validation and masking."""

from __future__ import annotations

import json

import pytest

from jobs.config import ConfigError, JobConfig, read_file


def test_defaults_need_nothing():
    config = JobConfig.load(environ={})
    assert config.learners == ["mlhat"]
    assert config.metrics_host == "127.0.0.1"
    assert config.kafka.topics.records == "tagstream.records"
    assert config.extractor.device == "auto"
    assert config.follow is False


def test_constructor_reads_no_environment(monkeypatch):
    monkeypatch.setenv("TAGSTREAM_BATCH_SIZE", "7")
    assert JobConfig().batch_size == 500
    assert JobConfig.load().batch_size == 7


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_file_environment_and_flags_override_in_that_order(tmp_path, suffix):
    path = tmp_path / f"job{suffix}"
    if suffix == ".toml":
        path.write_text(
            'learners = ["br-ht", "majority"]\nbatch_size = 50\nseed = 3\n'
            '[kafka]\nbootstrap_servers = "file:9092"\nclient_id = "from-file"\n'
            '[extractor]\ndevice = "cpu"\n'
        )
    else:
        path.write_text(
            "learners: [br-ht, majority]\nbatch_size: 50\nseed: 3\n"
            "kafka:\n  bootstrap_servers: file:9092\n  client_id: from-file\n"
            "extractor:\n  device: cpu\n"
        )
    environ = {"TAGSTREAM_BATCH_SIZE": "60", "TAGSTREAM_KAFKA__BOOTSTRAP_SERVERS": "env:9092", "UNRELATED": "x"}
    flags = {"batch_size": None, "seed": 9, "kafka": {"bootstrap_servers": "flag:9092"}}

    from_file = JobConfig.load(path, environ={})
    assert (from_file.learners, from_file.batch_size, from_file.seed) == (["br-ht", "majority"], 50, 3)
    assert from_file.kafka.bootstrap_servers == "file:9092"
    assert from_file.extractor.device == "cpu"

    with_env = JobConfig.load(path, environ=environ)
    assert with_env.batch_size == 60
    assert with_env.kafka.bootstrap_servers == "env:9092"
    assert with_env.kafka.client_id == "from-file"  # nested merge keeps the file's other keys

    with_flags = JobConfig.load(path, overrides=flags, environ=environ)
    assert with_flags.batch_size == 60  # flag not given (None): the environment stays
    assert with_flags.seed == 9
    assert with_flags.kafka.bootstrap_servers == "flag:9092"
    assert with_flags.kafka.client_id == "from-file"
    assert with_flags.extractor.device == "cpu"


def test_learners_from_a_comma_separated_environment_variable():
    config = JobConfig.load(environ={"TAGSTREAM_LEARNERS": "mlhat, majority"})
    assert config.learners == ["mlhat", "majority"]


def test_nested_environment_variable_for_the_extractor():
    assert JobConfig.load(environ={"TAGSTREAM_EXTRACTOR__DEVICE": "cuda"}).extractor.device == "cuda"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"learners": "nope"}, "unknown learner 'nope'"),
        ({"learners": []}, "at least one learner"),
        ({"learners": "all"}, "name the learners"),
        ({"learners": "mlhat,mlhat"}, "listed twice"),
        ({"batch_size": 0}, "batch_size"),
        ({"metrics_port": 70000}, "metrics_port"),
        ({"extractor": {"device": "tpu"}}, "device"),
        ({"kafka": {"bootstrap_servers": "nohostport"}}, "host:port"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_invalid_values_are_clear_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        JobConfig.load(overrides=overrides, environ={})


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("batch_size = = 3")
    with pytest.raises(ConfigError, match="bad.toml cannot be parsed"):
        read_file(bad)
    wrong = tmp_path / "job.ini"
    wrong.write_text("[x]")
    with pytest.raises(ConfigError, match="unknown format '.ini'"):
        read_file(wrong)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping of settings"):
        read_file(listed)
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("batch_size: -1\n")
    with pytest.raises(ConfigError, match="invalid.yaml"):
        JobConfig.load(invalid, environ={})


def test_empty_file_means_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert JobConfig.load(path, environ={}) == JobConfig()


def test_masked_hides_secrets_and_is_json():
    config = JobConfig.load(
        overrides={
            "kafka": {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "PLAIN",
                "sasl_username": "svc",
                "sasl_password": "hunter2",
            }
        },
        environ={},
    )
    shown = json.dumps(config.masked())
    assert "hunter2" not in shown
    assert config.masked()["kafka"]["sasl_password"] == "**********"
    assert config.kafka.sasl_password.get_secret_value() == "hunter2"


def test_config_show_prints_the_effective_config_masked(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from jobs.cli import app

    path = tmp_path / "job.toml"
    path.write_text('batch_size = 50\n[kafka]\nsasl_password = "hunter2"\n')
    monkeypatch.setenv("TAGSTREAM_SEED", "11")
    result = CliRunner().invoke(app, ["config", "show", "--config", str(path), "-b", "flag:9092"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert (shown["batch_size"], shown["seed"], shown["kafka"]["bootstrap_servers"]) == (50, 11, "flag:9092")
    assert shown["kafka"]["sasl_password"] == "**********"
    assert "hunter2" not in result.output
