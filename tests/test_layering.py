"""Imports point one way: jobs -> stream, learners. A learner is importable and testable alone."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# What each package may not import (top-level module names).
FORBIDDEN = {
    "learners": {"stream", "jobs", "kafka", "ray", "torch", "prometheus_client", "typer", "rich"},
    "stream": {"learners", "jobs", "ray", "torch"},
}


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_imported_modules_sees_plain_and_from_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import ray.util\nfrom jobs.cli import app\nfrom . import sibling\n")
    assert imported_modules(source) == {"ray", "jobs"}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_upwards(package):
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_modules(path) & FORBIDDEN[package]
        if bad:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not violations, "layering violated:\n" + "\n".join(violations)
