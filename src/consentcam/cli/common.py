"""Helpers shared by CLI verbs: global state, the ledger and actor of a command, output (plain or
JSON), settings, progress bars."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consentcam.config import Settings, load_settings

if TYPE_CHECKING:
    from consentcam.consent.context import Ledger


@dataclass(frozen=True, slots=True)
class State:
    data_dir: Path | None
    db_url: str | None

    def settings(self, **overrides: Any) -> Settings:
        base: dict[str, Any] = {}
        if self.data_dir is not None:
            base["data_dir"] = self.data_dir
        if self.db_url is not None:
            base["database_url"] = self.db_url
        return load_settings(**base, **overrides)


def cli_actor() -> str:
    """Who the audit log names: CONSENTCAM_ACTOR, else the operating-system user."""
    return os.environ.get("CONSENTCAM_ACTOR") or f"cli:{getpass.getuser()}"


def cli_ledger(state: State, *, create: bool = False, dev: bool | None = None) -> Ledger:
    """The ledger of the store ``state`` names, acting as ``cli_actor()``; ``dev`` overrides
    the settings' development mode when given."""
    # Here, not at the top: the ledger brings SQLAlchemy and numpy, and every command's module
    # is imported for each start of the CLI, --help included.
    from consentcam.consent.context import open_ledger

    overrides: dict[str, Any] = {} if dev is None else {"dev": dev}
    return open_ledger(state.settings(**overrides), cli_actor(), create=create)


def json_option(func: Any) -> Any:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON document on stdout."
    )(func)


def print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, sort_keys=False))


def emit(as_json: bool, document: dict[str, Any], text: str) -> None:
    """``document`` as JSON with --json, else the line ``text``."""
    if as_json:
        print_json(document)
    else:
        click.echo(text)


def vision_overrides(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with some ``vision.<section>.<field>`` values replaced (None means keep)."""
    vision = settings.vision
    sections: dict[str, dict[str, Any]] = {}
    for dotted, value in changes.items():
        if value is None:
            continue
        section, field = dotted.split("__")
        sections.setdefault(section, {})[field] = value
    updated = vision.model_copy(
        update={s: getattr(vision, s).model_copy(update=v) for s, v in sections.items()}
    )
    return settings.model_copy(update={"vision": updated})


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Any]:
    """A rich progress bar on stderr (stdout stays clean for --json); yields an ``advance(n)``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if not enabled:
        yield lambda n=1: None
        return
    if not console.is_terminal:
        yield _plain_progress(description, total)
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


def _plain_progress(description: str, total: int) -> Any:
    """Progress for logs (no terminal): a line at every tenth of the work."""
    done = 0
    step = max(1, total // 10)

    def advance(n: int = 1) -> None:
        nonlocal done
        before, done = done, done + n
        if done // step != before // step or done == total:
            print(f"{description}: {done}/{total}", file=sys.stderr, flush=True)

    return advance
