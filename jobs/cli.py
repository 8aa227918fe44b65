"""The ``tagstream`` command line.

Each group of commands lives in its own module and registers itself on the one Typer app here.
"""

from __future__ import annotations

import typer

from jobs import cli_config
from jobs import cli_deploy
from jobs import cli_offline
from jobs import cli_ops
from jobs import cli_run
from jobs import cli_stream

app = typer.Typer(
    name="tagstream",
    help="Streaming multi-label online learning: datasets, learners, prequential evaluation and the Kafka/Ray pipeline.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

cli_offline.register(app)
cli_stream.register(app)
cli_run.register(app)
cli_config.register(app)
cli_deploy.register(app)
cli_ops.register(app)

if __name__ == "__main__":
    app()
