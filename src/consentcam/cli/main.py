"""Entry point and the one place where library errors become exit codes.

Exit codes (docs/architecture.md, command line): 0 ok; 2 bad input or refused by policy, with one
clear line on stderr; 1 internal error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from consentcam import __version__
from consentcam.cli import (
    demo,
    eval_cmds,
    event_cmds,
    ops_cmds,
    pipeline_cmds,
    signage_cmds,
    store_cmds,
    user_cmds,
    vision_cmds,
)
from consentcam.cli.common import State
from consentcam.errors import (
    ConfigError,
    ConsentcamError,
    DependencyError,
    InputError,
    NotFound,
    PolicyError,
    StoreUnavailable,
)

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2

# The single mapping from the exception tree to exit codes; anything not listed is internal.
EXIT_CODES: dict[type[ConsentcamError], int] = {
    InputError: EXIT_BAD_INPUT,
    NotFound: EXIT_BAD_INPUT,
    PolicyError: EXIT_BAD_INPUT,
    ConfigError: EXIT_BAD_INPUT,
    DependencyError: EXIT_INTERNAL,
    # Not bad input: the same command may succeed once the database is back.
    StoreUnavailable: EXIT_INTERNAL,
}


def exit_code(error: ConsentcamError) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_INTERNAL


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: consentcam detect photo.jpg --json",
)
@click.version_option(__version__, prog_name="consentcam")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CONSENTCAM_DATA_DIR",
    help="Folder of the embedded SQLite store [env CONSENTCAM_DATA_DIR].",
)
@click.option(
    "--db-url",
    envvar="CONSENTCAM_DATABASE_URL",
    help="PostgreSQL URL for a chain's system of record [env CONSENTCAM_DATABASE_URL].",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, db_url: str | None) -> None:
    """Consent-first face recognition for shops and venues.

    Recognises members who opted in, counts everyone else anonymously, and keeps consent,
    retention and audit records as first-class data.
    """
    ctx.obj = State(data_dir=data_dir, db_url=db_url)


def _register() -> None:
    for command in [
        *store_cmds.COMMANDS,
        *ops_cmds.COMMANDS,
        *pipeline_cmds.COMMANDS,
        *event_cmds.COMMANDS,
        *user_cmds.COMMANDS,
        *signage_cmds.COMMANDS,
    ]:
        cli.add_command(command)
    cli.add_command(vision_cmds.detect)
    cli.add_command(vision_cmds.compare)
    cli.add_command(eval_cmds.eval_group)
    cli.add_command(demo.demo)


_register()


def _store_unavailable(error: Exception) -> StoreUnavailable | None:
    """A database error that means the store cannot be reached, as the library's error."""
    from consentcam.store.db import store_unavailable  # here: a CLI start stays light

    return store_unavailable(error)


def one_line(message: str) -> str:
    """``message`` on one line: a file name or value quoted in it may hold line breaks."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the contract's code; errors print one line on stderr."""
    try:
        cli.main(args=argv, prog_name="consentcam", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERNAL)
    except click.ClickException as exc:
        click.echo(f"error: {one_line(exc.format_message())}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except ConsentcamError as exc:
        click.echo(f"error: {one_line(str(exc))}", err=True)
        sys.exit(exit_code(exc))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        outage = _store_unavailable(exc)
        if outage is not None:
            click.echo(f"error: {one_line(str(outage))}", err=True)
            sys.exit(exit_code(outage))
        if os.environ.get("CONSENTCAM_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        click.echo(
            f"internal error: {type(exc).__name__}: {first} "
            "(set CONSENTCAM_DEBUG=1 for a traceback)",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK)
