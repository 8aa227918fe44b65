"""JobConfig: defaults, file < environment < flags, errors naming their origin, unknown names, masking, config show."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from jobs.cli import app
from jobs.config import ConfigError, JobConfig


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
        JobConfig.load(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("batch_size = = 3")
    with pytest.raises(ConfigError, match="bad.toml cannot be parsed"):
        JobConfig.load(bad, environ={})
    wrong = tmp_path / "job.ini"
    wrong.write_text("[x]")
    with pytest.raises(ConfigError, match="unknown format '.ini'"):
        JobConfig.load(wrong, environ={})
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping of settings"):
        JobConfig.load(listed, environ={})
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("batch_size: -1\n")
    with pytest.raises(ConfigError, match="invalid.yaml"):
        JobConfig.load(invalid, environ={})


def test_an_invalid_variable_is_named_with_its_value():
    with pytest.raises(ConfigError) as caught:
        JobConfig.load(environ={"TAGSTREAM_BATCH_SIZE": "abc"})
    assert "TAGSTREAM_BATCH_SIZE='abc' (batch_size): Input should be a valid integer" in str(caught.value)
    with pytest.raises(ConfigError, match=r"TAGSTREAM_EXTRACTOR__DEVICE='tpu' \(extractor.device\)"):
        JobConfig.load(environ={"TAGSTREAM_EXTRACTOR__DEVICE": "tpu"})


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("job.toml", 'seed = 1\n\n[kafka]\n# the brokers\nbootstrap_servers = "nohostport"\n', 5),
        ("job.toml", 'kafka.bootstrap_servers = "nohostport"\n', 1),
        ("job.yaml", "seed: 1\nkafka:\n  group_id: g\n  bootstrap_servers: nohostport\n", 4),
    ],
)
def test_an_invalid_file_value_is_named_with_its_file_and_line(tmp_path, name, text, line):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        JobConfig.load(path, environ={})
    assert f"{path}, line {line}: kafka.bootstrap_servers = 'nohostport': bootstrap server" in str(caught.value)


def test_an_invalid_flag_is_named_as_the_user_typed_it():
    with pytest.raises(ConfigError, match=r"--learner 'nope' \(learners\): unknown learner 'nope'"):
        JobConfig.load(overrides={"learners": "nope"}, environ={})
    with pytest.raises(ConfigError, match=r"--champion-metric 'speed' \(champion_metric\)"):
        JobConfig.load(overrides={"champion_metric": "speed"}, environ={})


def test_each_error_names_its_own_origin_and_a_secret_is_never_shown(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text('seed = "x"\n[kafka]\nsasl_password = 3\n')
    with pytest.raises(ConfigError) as caught:
        JobConfig.load(path, overrides={"learners": "nope"}, environ={"TAGSTREAM_WINDOW": "-5"})
    message = str(caught.value)
    assert f"{path}, line 1: seed = 'x'" in message
    assert "TAGSTREAM_WINDOW='-5' (window)" in message
    assert "--learner 'nope'" in message
    assert f"{path}, line 3: kafka.sasl_password = '**********'" in message
    assert "= 3" not in message


def test_unknown_variables_are_warned_about_with_the_nearest_name_and_ignored(caplog):
    environ = {
        "TAGSTREAM_BATCHSIZE": "7",
        "TAGSTREAM_KAFKA__GROUPID": "mine",
        "TAGSTREAM_NOTHING_LIKE_ANY_SETTING": "1",
        "TAGSTREAM_DATA_DIR": "/data",  # read by the dataset registry
        "TAGSTREAM_CONFIG": "job.toml",  # read by the Ray job's entrypoint
        "TAGSTREAM_SEED": "4",
    }
    with caplog.at_level(logging.WARNING, logger="jobs.config"):
        config = JobConfig.load(environ=environ)
    assert (config.batch_size, config.kafka.group_id, config.seed) == (500, "tagstream", 4)
    warnings = [record.getMessage() for record in caplog.records]
    assert warnings == [
        "environment variable TAGSTREAM_BATCHSIZE is not a tagstream setting and is ignored; did you mean TAGSTREAM_BATCH_SIZE?",
        "environment variable TAGSTREAM_KAFKA__GROUPID is not a tagstream setting and is ignored; did you mean TAGSTREAM_KAFKA__GROUP_ID?",
        "environment variable TAGSTREAM_NOTHING_LIKE_ANY_SETTING is not a tagstream setting and is ignored",
    ]


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_unknown_file_keys_are_warned_about_with_line_and_nearest_name_and_ignored(tmp_path, caplog, suffix):
    path = tmp_path / f"job{suffix}"
    if suffix == ".toml":
        path.write_text('seed = 2\nbatchsize = 50\n[kafka]\ngroupid = "mine"\n[extractor]\ndevise = "cpu"\n')
    else:
        path.write_text("seed: 2\nbatchsize: 50\nkafka:\n  groupid: mine\nextractor:\n  devise: cpu\n")
    with caplog.at_level(logging.WARNING, logger="jobs.config"):
        config = JobConfig.load(path, environ={})
    assert (config.seed, config.batch_size, config.kafka.group_id, config.extractor.device) == (2, 500, "tagstream", "auto")
    assert [record.getMessage() for record in caplog.records] == [
        f"config file {path}, line 2: batchsize is not a tagstream setting and is ignored; did you mean batch_size?",
        f"config file {path}, line 4: kafka.groupid is not a tagstream setting and is ignored; did you mean kafka.group_id?",
        f"config file {path}, line 6: extractor.devise is not a tagstream setting and is ignored; did you mean extractor.device?",
    ]


def test_load_explained_says_where_each_value_came_from(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text('seed = 2\nbatch_size = 50\n[kafka]\nclient_id = "file"\n')
    environ = {"TAGSTREAM_BATCH_SIZE": "60", "TAGSTREAM_KAFKA__TOPICS__RECORDS": "in"}
    config, origins = JobConfig.load_explained(path, overrides={"learners": "majority", "kafka": {"group_id": None}}, environ=environ)
    assert (config.seed, config.batch_size, config.kafka.client_id, config.kafka.topics.records) == (2, 60, "file", "in")
    assert origins["seed"] == f"file {path}:1"
    assert origins["batch_size"] == "env TAGSTREAM_BATCH_SIZE"
    assert origins["kafka.client_id"] == f"file {path}:4"
    assert origins["kafka.topics.records"] == "env TAGSTREAM_KAFKA__TOPICS__RECORDS"
    assert origins["learners"] == "flag --learner"
    assert origins["kafka.group_id"] == origins["window"] == "default"
    assert set(origins) >= {"extractor.device", "kafka.topics.labels", "kafka.sasl_password"}


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


def test_config_show_says_where_each_value_came_from(tmp_path, monkeypatch):
    path = tmp_path / "job.toml"
    path.write_text('batch_size = 50\n[kafka]\nsasl_password = "hunter2"\n')
    monkeypatch.setenv("TAGSTREAM_SEED", "11")
    result = CliRunner().invoke(app, ["config", "show", "--config", str(path), "-b", "flag:9092"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines() if line.strip()}
    assert rows["batch_size"] == ["50", "file", f"{path}:1"]
    assert rows["seed"] == ["11", "env", "TAGSTREAM_SEED"]
    assert rows["kafka.bootstrap_servers"] == ["flag:9092", "flag", "--bootstrap-servers"]
    assert rows["window"] == ["1000", "default"]
    assert rows["kafka.sasl_password"][0] == "**********"
    assert "hunter2" not in result.output


def test_config_show_names_the_embedded_broker_when_no_address_is_set(monkeypatch):
    monkeypatch.delenv("TAGSTREAM_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    result = CliRunner().invoke(app, ["config", "show"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.strip().startswith("kafka.bootstrap_servers"))
    assert "none set: run starts an embedded broker" in row
    assert "127.0.0.1:9092" not in row
    shown = json.loads(CliRunner().invoke(app, ["config", "show", "--json"]).output)
    assert shown["embedded_broker"] is True
    assert shown["sources"]["kafka.bootstrap_servers"] == "default"
    with_address = json.loads(CliRunner().invoke(app, ["config", "show", "--json", "-b", "k:9092"]).output)
    assert with_address["embedded_broker"] is False
    assert with_address["config"]["kafka"]["bootstrap_servers"] == "k:9092"


def test_config_show_json_is_the_config_masked_with_its_sources(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("batch_size: 50\nkafka:\n  sasl_password: hunter2\n")
    result = CliRunner().invoke(app, ["config", "show", "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["config"]["batch_size"] == 50
    assert shown["config"]["kafka"]["sasl_password"] == "**********"
    assert shown["sources"]["batch_size"] == f"file {path}:1"
    assert "hunter2" not in result.output


def test_config_show_errors_name_the_variable():
    result = CliRunner().invoke(app, ["config", "show"], env={"TAGSTREAM_BATCH_SIZE": "abc"})
    assert result.exit_code == 2
    assert "TAGSTREAM_BATCH_SIZE='abc'" in result.stderr


def test_config_show_warns_about_unknown_names_on_stderr(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text("batchsize = 50\n")
    result = CliRunner().invoke(
        app, ["config", "show", "--json", "--config", str(path)], env={"TAGSTREAM_SEEED": "3", "COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "TAGSTREAM_SEEED is not a tagstream setting and is ignored; did you mean TAGSTREAM_SEED?" in result.stderr
    assert "line 1: batchsize is not a tagstream setting and is ignored; did you mean batch_size?" in result.stderr
    assert json.loads(result.stdout)["config"]["batch_size"] == 500


def test_run_refuses_an_invalid_variable_naming_it_before_starting_anything():
    result = CliRunner().invoke(app, ["run", "--learner", "majority"], env={"TAGSTREAM_BATCH_SIZE": "abc"})
    assert result.exit_code == 2
    assert "TAGSTREAM_BATCH_SIZE='abc' (batch_size)" in result.stderr
    assert "embedded broker" not in result.output
