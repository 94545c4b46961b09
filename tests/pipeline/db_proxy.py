"""A loopback TCP proxy in front of the test PostgreSQL server, for database outages in tests.

Clients connect to ``127.0.0.1:<port>`` and are forwarded, byte for byte, to the real server
(its Unix socket or TCP address, taken from the test database URL). ``cut()`` makes the server
unreachable the way production sees it: every open connection is reset, and new ones are
refused (nothing listens on the port, as when the server is stopped) or, with
``blackhole=True``, accepted and never answered (a host or network gone silent, where only a
client-side timeout ends the wait). ``restore()`` lets connections through again; clients must
reconnect on their own, as after a server restart.

One thread owns every socket (a selector loop), so a cut never races a forwarding thread.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import sqlalchemy as sa

# SO_LINGER on, zero seconds: close() sends RST rather than FIN, as a dead server's host does.
_ABORT = struct.pack("ii", 1, 0)
_CHUNK = 65536
_TICK_S = 0.05


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where the real server listens: a Unix socket path, or a TCP host and port."""

    unix_path: str | None = None
    host: str | None = None
    port: int | None = None

    def connect(self) -> socket.socket:
        if self.unix_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(5)
            sock.connect(self.unix_path)
        else:
            assert self.host is not None and self.port is not None
            sock = socket.create_connection((self.host, self.port), timeout=5)
        sock.settimeout(None)
        return sock


def upstream_of(url: str) -> Upstream:
    """The server a SQLAlchemy PostgreSQL URL points at (libpq's rules: a ``host`` that is a
    path, in the URL or its query, is a socket directory)."""
    parsed = sa.make_url(url)
    host = str(parsed.query.get("host") or parsed.host or "/var/run/postgresql")
    port = int(str(parsed.query.get("port") or parsed.port or 5432))
    if host.startswith("/"):
        return Upstream(unix_path=f"{host}/.s.PGSQL.{port}")
    return Upstream(host=host, port=port)


def proxied_url(url: str, port: int) -> str:
    """``url`` with the server replaced by the proxy on 127.0.0.1:``port``."""
    parsed = sa.make_url(url)
    query = {k: v for k, v in parsed.query.items() if k not in ("host", "port")}
    return parsed.set(host="127.0.0.1", port=port, query=query).render_as_string(
        hide_password=False
    )


class DbProxy:
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self._listener: socket.socket | None = self._listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._peer: dict[socket.socket, socket.socket] = {}  # both directions of each pair
        self._held: list[socket.socket] = []  # black-holed clients
        self._mode = "up"  # "up", "refuse" or "blackhole"
        self._commands: list[tuple[str, threading.Event]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="db-proxy", daemon=True)
        self.accepted = 0
        self.reset = 0  # connections reset by cuts

    # -- control (any thread) ----------------------------------------------------------------

    def cut(self, *, blackhole: bool = False) -> None:
        """Reset every open connection and refuse (or black-hole) new ones; returns once done."""
        self._command("blackhole" if blackhole else "refuse")

    def restore(self) -> None:
        """Let new connections through again; returns once the port accepts them."""
        self._command("up")

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._peer) // 2

    @contextmanager
    def running(self) -> Iterator[DbProxy]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(5)

    def _command(self, mode: str) -> None:
        done = threading.Event()
        with self._lock:
            self._commands.append((mode, done))
        if not done.wait(10):
            raise TimeoutError(f"the proxy did not switch to {mode!r}")

    # -- the loop (its own thread) -----------------------------------------------------------

    @staticmethod
    def _listen(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
        sock.setblocking(False)
        return sock

    def _loop(self) -> None:
        assert self._listener is not None
        self._selector.register(self._listener, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                self._run_commands()
                for key, _ in self._selector.select(_TICK_S):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        self._accept()
                    elif sock in self._peer:
                        self._forward(sock)
        finally:
            for sock in [*self._peer, *self._held]:
                self._abort(sock)
            if self._listener is not None:
                self._listener.close()
            self._selector.close()

    def _run_commands(self) -> None:
        with self._lock:
            commands, self._commands = self._commands, []
        for mode, done in commands:
            if mode == "up":
                for sock in self._held:
                    self._abort(sock)
                self._held = []
                if self._listener is None:
                    self._listener = self._relisten()
                    self._selector.register(self._listener, selectors.EVENT_READ)
            else:
                with self._lock:
                    self.reset += len(self._peer) // 2
                for sock in list(self._peer):
                    self._drop(sock)
                if mode == "refuse" and self._listener is not None:
                    # Nothing listens on the port: connects get ECONNREFUSED, as from a host
                    # whose server is stopped.
                    self._selector.unregister(self._listener)
                    self._listener.close()
                    self._listener = None
                elif mode == "blackhole" and self._listener is None:
                    self._listener = self._relisten()
                    self._selector.register(self._listener, selectors.EVENT_READ)
            self._mode = mode
            done.set()

    def _relisten(self) -> socket.socket:
        """The same port again (the clients' URLs name it); another process may have taken it
        in the meantime, which is retried briefly, then reported."""
        deadline = time.monotonic() + 5
        while True:
            try:
                return self._listen(self.port)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        self.accepted += 1
        client.setblocking(True)
        if self._mode == "blackhole":
            self._held.append(client)  # never read, never answered
            return
        try:
            server = self.upstream.connect()
        except OSError:
            self._abort(client)
            return
        with self._lock:
            self._peer[client] = server
            self._peer[server] = client
        for sock in (client, server):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            self._selector.register(sock, selectors.EVENT_READ)

    def _forward(self, sock: socket.socket) -> None:
        other = self._peer[sock]
        try:
            data = sock.recv(_CHUNK)
            if data:
                # Blocking send: PostgreSQL clients and servers always read what they asked for.
                other.sendall(data)
                return
        except OSError:
            pass
        self._drop(sock)  # one side closed: close the other, as the server's host would

    def _drop(self, sock: socket.socket) -> None:
        """Reset both sides of ``sock``'s pair (once: the pair may come up twice in a cut)."""
        with self._lock:
            other = self._peer.pop(sock, None)
            if other is None:
                return
            self._peer.pop(other, None)
        for s in (sock, other):
            self._selector.unregister(s)
            self._abort(s)

    @staticmethod
    def _abort(sock: socket.socket) -> None:
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _ABORT)
        sock.close()


@contextmanager
def db_proxy(url: str) -> Iterator[DbProxy]:
    """A running proxy in front of the server of ``url``."""
    proxy = DbProxy(upstream_of(url))
    with proxy.running():
        yield proxy
