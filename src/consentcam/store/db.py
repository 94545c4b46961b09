"""Opening the store: SQLite in the data directory by default, PostgreSQL by URL; migrations run
on open so a store is always at the schema the code expects."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Delete, Engine, create_engine, event, make_url, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from consentcam.config import Settings
from consentcam.errors import (
    ConfigError,
    Conflict,
    DependencyError,
    InputError,
    NotFound,
    StoreUnavailable,
)

T = TypeVar("T")

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_FILE = "consentcam.db"
# A server that has gone silent (host down, network cut) answers no connection attempt: without
# a limit libpq waits for the kernel to give up (minutes), holding an API request or a camera
# worker's frame loop that long. A ``connect_timeout`` in the URL overrides it.
CONNECT_TIMEOUT_S = 5
# An open connection whose server goes silent (no reset: a host down, a network cut) would wait
# for the kernel's retransmissions (about 15 minutes) before a query on it failed, and an idle
# pooled one would only be found dead when next used. libpq's TCP keepalives probe an idle
# connection after 10 s, every 5 s, and give up after 3 unanswered probes; its user timeout
# (libpq 12 and later) drops one whose sent data stays unacknowledged for 10 s. Each can be set
# in the URL instead.
LIBPQ_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
TCP_USER_TIMEOUT_MS = 10_000


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{settings.data_dir / SQLITE_FILE}"


@dataclass(frozen=True)
class Store:
    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any error, so a failed action
        leaves stored data unchanged.

        A value the database cannot take is bad input (InputError), whichever field or lookup
        carried it: text with an unpaired surrogate (invalid UTF-8 let through as
        surrogateescape or a JSON escape), NUL in PostgreSQL text, a value out of its column's
        range."""
        try:
            with self.sessions.begin() as session:
                yield session
        except UnicodeEncodeError:
            raise InputError(
                "text that is not valid Unicode (an unpaired surrogate, e.g. from invalid UTF-8) "
                "cannot be stored or looked up"
            ) from None
        except DataError as exc:
            raise InputError(f"the database refused a value: {driver_reason(exc)}") from None
        except IntegrityError as exc:
            # A check-then-insert (a new site's name, a user's) can lose a race to a concurrent
            # request that wrote the same key first; that is the caller's conflict, not a crash.
            # Other integrity errors (a foreign key, a trigger) stay what they are: defects.
            if not unique_violation(exc):
                raise
            raise Conflict(
                f"written at the same moment by another request ({driver_reason(exc)}); "
                "nothing was stored"
            ) from None


def forget_deleted(store: Store) -> None:
    """After a withdrawal or an erasure: on SQLite, move the write-ahead log into the database
    file (where secure_delete has zeroed the deleted content) and truncate it, so the page
    images that still held the deleted rows leave the disk now rather than at some later
    checkpoint. Best effort: pages a concurrent reader still uses stay until the next one.
    PostgreSQL removes dead rows at vacuum; its WAL archive and backups follow the operator's
    retention (docs/threat-model.md, residual risk 13)."""
    if store.engine.dialect.name != "sqlite":
        return
    with store.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def open_store(settings: Settings, *, create: bool = False) -> Store:
    """Open (and migrate) the store; without ``create`` a missing SQLite store is an error that
    tells the user to run ``consentcam init``."""
    url = database_url(settings)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not create and not path.exists():
            raise NotFound(f"no store at {path}: run 'consentcam init' first (or pass --data-dir)")
        if not path.exists():
            # Private from creation: the store names members and holds their purchases.
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.touch(mode=0o600)
    try:
        # Statement parameters (member names, profiles, password hashes) are kept out of
        # exception texts and of the engine's log, whatever level an operator turns it up to.
        engine = create_engine(url, future=True, hide_parameters=True, **_engine_options(url))
    except ModuleNotFoundError as exc:
        raise DependencyError(
            f"the database driver {exc.name!r} is not installed "
            "(for PostgreSQL: pip install 'consentcam[postgres]')"
        ) from None
    except Exception as exc:  # any other URL error is a configuration error
        raise ConfigError(f"cannot open database {_safe(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    migrate(engine)
    return Store(engine, sessionmaker(engine, expire_on_commit=False))


def _engine_options(url: str) -> dict[str, Any]:
    """Pool options for a database server: a connection that died while pooled (the server
    restarted, or the network dropped while it was idle) is tested on checkout and replaced,
    so the first request after an outage does not fail on it; connection attempts are bounded,
    and so (through psycopg, whose libpq takes them) is the wait on a connection whose server
    went silent.

    The pool keeps SQLAlchemy's size (5, and 10 more under load). The API serves sync routes
    from 40 threads, but a request holds its connection for milliseconds, so the others queue
    briefly for one, and a pool still exhausted after its 30 s timeout is answered 503
    (``store_unavailable``). A bigger pool per API node would multiply across the nodes and
    camera workers of a chain, which share one server's connection limit (100 by default)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return {}
    options: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "postgresql":
        wanted: dict[str, int] = {"connect_timeout": CONNECT_TIMEOUT_S}
        if parsed.get_driver_name() == "psycopg":
            wanted |= LIBPQ_KEEPALIVES
            if _libpq_version() >= 120000:
                wanted["tcp_user_timeout"] = TCP_USER_TIMEOUT_MS
        # The driver takes connect_args over the URL's query: leave out what the URL sets.
        connect_args = {k: v for k, v in wanted.items() if k not in parsed.query}
        if connect_args:
            options["connect_args"] = connect_args
    return options


def _libpq_version() -> int:
    """The libpq psycopg uses, as libpq numbers it (160002 for 16.2)."""
    import psycopg

    return int(psycopg.pq.version())


def store_unavailable(error: BaseException) -> StoreUnavailable | None:
    """The library's error for a database error that means "cannot reach the store now" (a
    server's OperationalError: connection refused, reset or timed out, server shutting down; any
    error on a connection found dead; no pooled connection free in time); None for anything
    else. The CLI and the API map it where they map the rest of the exception tree."""
    if isinstance(error, PoolTimeout):
        # Every pooled connection stayed busy for the pool's whole timeout: the store is
        # overloaded rather than broken, and the answer is the same: retry later.
        return StoreUnavailable(
            "the store is unavailable (all its connections are busy); retry later"
        )
    if not isinstance(error, DBAPIError):
        return None
    # SQLite has no server to lose, and reports a mistaken statement (no such table) as an
    # OperationalError too: that is a bug to report as one, not an outage to retry.
    server = isinstance(error, OperationalError) and not isinstance(error.orig, sqlite3.Error)
    if not (server or error.connection_invalidated):
        return None
    return StoreUnavailable(f"the store is unavailable ({driver_reason(error)}); retry later")


def driver_reason(error: DBAPIError) -> str:
    """The driver's own message, first line only: the rest is the statement and its
    parameters, which may carry member data."""
    text = str(error.orig).strip()
    return text.splitlines()[0] if text else "?"


def unique_violation(error: IntegrityError) -> bool:
    """Whether the database refused a row for a key already stored (SQLSTATE 23505 on
    PostgreSQL, SQLite's UNIQUE or PRIMARY KEY constraint)."""
    if getattr(error.orig, "sqlstate", None) == "23505":
        return True
    return getattr(error.orig, "sqlite_errorname", "") in (
        "SQLITE_CONSTRAINT_UNIQUE",
        "SQLITE_CONSTRAINT_PRIMARYKEY",
    )


def deleted_rows(session: Session, statement: Delete) -> int:
    """Run a bulk DELETE (the session's objects are not synchronised: callers re-read); the
    number of rows it deleted."""
    result = cast(
        CursorResult[Any],
        session.execute(statement, execution_options={"synchronize_session": False}),
    )
    return int(result.rowcount)


def dialect_insert(session: Session) -> Any:
    """The INSERT construct of the session's database, which has ON CONFLICT (an upsert, or an
    insert that leaves a row a concurrent writer stored first)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise ConfigError(f"the store needs SQLite or PostgreSQL, not {name}")


def stored_once(session: Session, model: type[T], key: dict[str, Any], **values: Any) -> T:
    """The row of ``model`` whose unique ``key`` columns hold ``key``, inserted with ``values``
    if there is none.

    Two requests creating it at once (kiosks recording a tenant's first consents, the first
    requests on a new store) would both find none and both insert; with ON CONFLICT DO NOTHING
    the second keeps the row the first stored (on PostgreSQL its insert waits for the first
    transaction, then the next read sees the committed row) instead of failing the request."""
    where = [getattr(model, column) == value for column, value in key.items()]
    row = session.execute(select(model).where(*where)).scalar()
    if row is None:
        session.execute(
            dialect_insert(session)(model)
            .values(**key, **values)
            .on_conflict_do_nothing(index_elements=list(key))
        )
        row = session.execute(select(model).where(*where)).scalar_one()
    return row


def _safe(url: str) -> str:
    """The URL without credentials, for messages."""
    return url.split("@")[-1]


def migrate(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # Deleted content is overwritten with zeros in the file, not left in free space: withdrawn
    # templates and erased members must not be recoverable from a copy of it.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
