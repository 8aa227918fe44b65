"""The options several ``tagstream`` commands share read the same everywhere, and every help page works."""

import pytest
import typer.main
from typer.testing import CliRunner

from jobs import ray_job
from jobs.cli import app


def _commands(command, path: tuple[str, ...] = ()):
    """Every command of the app, with the words that call it (groups included)."""
    yield path, command
    if hasattr(command, "commands"):  # a group (typer's own click: no isinstance on click's classes)
        for name, sub in command.commands.items():
            yield from _commands(sub, path + (name,))


COMMANDS = list(_commands(typer.main.get_command(app)))


def _options(command) -> dict:
    return {param.opts[0]: param for param in command.params if param.param_type_name == "option"}


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=lambda path: " ".join(path) or "tagstream")
def test_every_help_page_works(path):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_a_shared_option_has_one_help_text_and_the_same_flags_under_every_command():
    job_app = typer.Typer(add_completion=False)
    job_app.command()(ray_job.main)
    job = typer.main.get_command(job_app)
    # submit's --config names a file inside the uploaded working dir, and the Ray job's has its own
    # environment variable: both mean something else than the job config file of the other commands.
    own_meaning = {("submit", "--config"), ("ray_job", "--config")}
    seen: dict[str, list] = {}
    for path, command in [*COMMANDS, (("ray_job",), job)]:
        for flag, option in _options(command).items():
            if (" ".join(path), flag) not in own_meaning:
                seen.setdefault(flag, []).append((" ".join(path), option))
    shared = ["--config", "--verbose", "--bootstrap-servers", "--dataset", "--seed", "--text-field", "--init-model", "--log-format"]
    for flag in shared:
        places = seen[flag]
        assert len(places) >= 2, flag
        helps = {option.help for _, option in places}
        spellings = {tuple(option.opts + option.secondary_opts) for _, option in places}
        assert len(helps) == 1, (flag, [(where, option.help) for where, option in places])
        assert len(spellings) == 1, (flag, spellings)
