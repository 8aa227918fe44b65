"""``tagstream submit``: run the pipeline as a job on a Ray cluster and follow it to the end."""

from __future__ import annotations

import pathlib
import sys
import typing

import typer
from rich.console import Console
from rich.markup import escape

from jobs import submit as jobs_submit
from jobs.cli_console import print_error
from jobs.cli_options import Verbose
from jobs.config import ConfigError
from jobs.logging_setup import setup_logging

console = Console()


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--env")
        env[name] = value
    return env


def submit_command(
    args: typing.Annotated[
        list[str] | None,
        typer.Argument(help="Flags for the job's entrypoint, after --: -- --limit 300 --dataset yeast"),
    ] = None,
    config_file: typing.Annotated[
        pathlib.Path | None, typer.Option("--config", help="Job config (TOML/YAML) inside the working dir.")
    ] = None,
    address: typing.Annotated[
        str | None,
        typer.Option(help="Ray job API, e.g. http://127.0.0.1:8265 (default: RAY_API_SERVER_ADDRESS or RAY_ADDRESS)."),
    ] = None,
    working_dir: typing.Annotated[
        pathlib.Path, typer.Option(help="Folder uploaded as the job's working dir: the repository root.")
    ] = pathlib.Path("."),
    upload: typing.Annotated[
        bool,
        typer.Option(
            "--upload/--no-upload",
            help="Upload the working dir; --no-upload runs the tagstream installed on the cluster (images), "
            "with --config a path on the cluster.",
        ),
    ] = True,
    env: typing.Annotated[
        list[str] | None, typer.Option("--env", "-e", help="NAME=VALUE for the job's environment (repeatable).")
    ] = None,
    allow_secret_env: typing.Annotated[
        bool,
        typer.Option(
            "--allow-secret-env",
            help="Send --env values that look like secrets anyway (every client of the Ray cluster can read them).",
        ),
    ] = False,
    submission_id: typing.Annotated[str | None, typer.Option(help="Job id (default: Ray picks one).")] = None,
    wait: typing.Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the job's logs until it ends.")] = True,
    timeout: typing.Annotated[
        float | None, typer.Option(min=1, help="Seconds to wait for the job to end (default: no limit).")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Submit the pipeline (python -m jobs.ray_job) to a Ray cluster's job API; exit 0 only if it SUCCEEDED."""
    setup_logging(verbose)
    try:
        request = jobs_submit.make_request(
            working_dir if upload else None,
            config_file,
            _parse_env(env or []),
            args or [],
            submission_id,
            allow_secret_env=allow_secret_env,
        )
        client = jobs_submit.connect(address)
        job_id = jobs_submit.submit(client, request)
        console.print(f"submitted job [bold]{escape(job_id)}[/bold]: {escape(request.entrypoint())}", soft_wrap=True)
        if not wait:
            console.print(f"follow it with: ray job logs --follow {escape(job_id)}", soft_wrap=True)
            return
        status = jobs_submit.wait(
            client, job_id, timeout_s=timeout, on_logs=lambda text: (sys.stdout.write(text), sys.stdout.flush())
        )
    except (jobs_submit.SubmitError, ConfigError) as error:
        print_error(str(error))
        raise typer.Exit(1) from None
    colour = "green" if status == "SUCCEEDED" else "red"
    console.print(f"job {escape(job_id)} [{colour}]{status}[/{colour}]")
    if status != "SUCCEEDED":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``submit`` to the ``tagstream`` app."""
    app.command("submit")(submit_command)
