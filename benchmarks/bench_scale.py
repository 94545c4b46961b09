#!/usr/bin/env python
"""PostgreSQL at chain scale: enrolment throughput, gallery load, withdrawal latency and
chain-wide search with pgvector, at up to a million members.

The store is a throwaway database on the server named by ``--db-url`` (created and dropped
here), migrated by the product's own migrations, with ``--sites`` sites of equal size
(jurisdiction ``eu``: door and lane modes allowed, a kiosk consent is enough).

Phases, each timed on its own:

``enrol``      ``--kiosks`` processes enrol ``--library-members`` members through the library,
               exactly as the CLI and API do: member row, consent with evidence hash and notice,
               enrolment with the template sealed and the audit chain extended (three
               transactions and three audit entries a member). Only the vision step is replaced:
               each enrolment photo's face is a synthetic unit vector (the dlib pipeline's cost
               is per photo and measured by ``bench_embed.py``), so this is the store's
               throughput, the part that does not scale out with kiosks.
``fill``       the rest of the members up to ``--members``, written in bulk (COPY) with the same
               rows the library writes: member, kiosk consent, template sealed with the real key
               and row binding, the store's triggers on (no template without a consent, gallery
               change counters). No per-member audit entries: this is a loader, reported apart.
``gallery``    a fresh process loads one site's gallery (``SiteGallery.refresh``: read and
               decrypt every live template, build the index): time and resident memory.
``withdrawal`` two worker processes hold that site's gallery and watch the store (LISTEN/NOTIFY
               and polling, as camera workers do); a member is withdrawn through the library
               while both workers keep identifying them; reported: time from the withdraw call
               to the first "unknown" in each worker, over ``--withdrawals`` members.
``pgvector``   (when the server has the ``vector`` extension) every template is opened and its
               tenant-transformed vector, the same one an in-memory gallery holds, copied into
               a ``vector(128)`` column with an HNSW index; chain-wide 1:N search latency
               p50/p99 and recall@1 against exact search, for member probes (template plus
               noise) and non-member probes.

Synthetic embeddings are unit vectors drawn from a seeded generator in chunks, so any member's
raw vector can be drawn again by index (queries and the withdrawal workers need them).
The last line printed is one JSON document; progress goes to stderr.

Usage:
  python benchmarks/bench_scale.py --db-url postgresql+psycopg://USER@/postgres?host=/run/pg \\
      --members 1000000 --sites 10 --json
  python benchmarks/bench_scale.py --db-url URL --members 20000 --sites 2 --skip pgvector
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing as mp
import os
import platform
import queue
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from consentcam.config import Settings, load_settings
from consentcam.consent.consents import _notice, record_consent
from consentcam.consent.context import Ledger, open_ledger, site_by_name, tenant_row
from consentcam.consent.enrolment import enroll
from consentcam.consent.members import add_member
from consentcam.consent.rights import withdraw
from consentcam.consent.sites import add_site
from consentcam.store import crypto
from consentcam.store.db import driver_reason
from consentcam.store.models import Member, Site
from consentcam.store.scratch import scratch_database

D = 128
CHUNK = 65_536  # synthetic vectors are drawn this many at a time, seeded by chunk number
SEED = 20261126
BATCH = 5_000  # members a bulk-fill transaction writes
NOISE = 0.03  # per-dimension noise of a member probe (distance about 0.34 from its template)
PHASES = ("enrol", "fill", "gallery", "withdrawal", "pgvector")
KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # a fixed key for a throwaway store


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process, in MiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(seconds) * 1000, q)), 3) if seconds else 0.0


# --- synthetic embeddings -------------------------------------------------------------------


def raw_chunk(chunk: int) -> np.ndarray:
    """Members ``chunk * CHUNK`` onwards: seeded unit vectors (float32)."""
    rng = np.random.default_rng([SEED, chunk])
    v = rng.standard_normal((CHUNK, D), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def raw_vectors(indices: Sequence[int]) -> np.ndarray:
    """The raw embeddings of members by index (each chunk drawn once)."""
    out = np.empty((len(indices), D), np.float32)
    by_chunk: dict[int, list[int]] = {}
    for pos, i in enumerate(indices):
        by_chunk.setdefault(i // CHUNK, []).append(pos)
    for chunk, positions in by_chunk.items():
        rows = raw_chunk(chunk)
        for pos in positions:
            out[pos] = rows[indices[pos] % CHUNK]
    return out


def member_name(i: int) -> str:
    return f"synthetic member {i:07d}"


# --- the throwaway store --------------------------------------------------------------------


def bench_settings(url: str, data_dir: Path) -> Settings:
    os.environ[crypto.KEY_ENV] = KEY
    return load_settings(data_dir=data_dir, database_url=url)


def site_names(sites: int) -> list[str]:
    return [f"store-{k:03d}" for k in range(sites)]


def site_of(i: int, members: int, sites: int) -> int:
    """Members are spread evenly: site k holds indices [k * per_site, (k + 1) * per_site)."""
    return min(i // -(-members // sites), sites - 1)


# --- child processes ---------------------------------------------------------------------------


def results(procs: Sequence[BaseProcess], out: Any, what: str) -> list[Any]:
    """One result from each of ``procs`` through the queue ``out``, then their exit. A process
    that dies first (its traceback is on stderr) ends the benchmark at once instead of leaving it
    waiting for a result that will never come."""
    got: list[Any] = []
    while len(got) < len(procs):
        try:
            got.append(out.get(timeout=1))
        except queue.Empty:
            failed = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if failed:
                for p in procs:
                    p.terminate()
                raise SystemExit(
                    f"bench_scale: a {what} process failed (exit {failed[0]}; its error is above)"
                ) from None
            if all(p.exitcode == 0 for p in procs) and out.empty():
                raise SystemExit(f"bench_scale: a {what} process ended with no result") from None
    for p in procs:
        p.join()
    return got


def receive(pipe: Connection) -> Any:
    """The next message from a worker; a worker that died is the benchmark's failure."""
    try:
        return pipe.recv()
    except EOFError:
        raise SystemExit("bench_scale: a worker process died (its error is above)") from None


# --- enrolment through the library ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Quality:
    def as_dict(self) -> dict[str, Any]:
        return {"synthetic": True}


@dataclass(frozen=True, slots=True)
class _Face:
    vector: np.ndarray
    quality: _Quality = _Quality()


def _kiosk(settings: Settings, indices: list[int], members: int, sites: int, out: Any) -> None:
    """One enrolment kiosk: the library's three calls per member, the face from the seam."""
    import consentcam.vision.faces as faces

    ledger = open_ledger(settings, f"bench:kiosk-{os.getpid()}")
    work = Path(tempfile.mkdtemp(prefix="kiosk-"))
    evidence, photo = work / "consent.txt", work / "photo.jpg"
    evidence.write_text("signed at the kiosk")
    photo.write_bytes(b"synthetic enrolment photo")
    vectors = raw_vectors(indices)
    current: list[np.ndarray] = [vectors[0]]
    faces.enrolment_face = lambda *_a, **_k: _Face(current[0])  # type: ignore[assignment]
    names = site_names(sites)
    latencies = []
    for pos, i in enumerate(indices):
        current[0] = vectors[pos]
        t0 = time.perf_counter()
        member = add_member(ledger, names[site_of(i, members, sites)], member_name(i))
        record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
        enroll(ledger, member.id, [photo])
        latencies.append(time.perf_counter() - t0)
    out.put(latencies)


def enrol_phase(
    settings: Settings, indices: list[int], members: int, sites: int, kiosks: int
) -> dict[str, Any]:
    log(f"enrol: {len(indices)} members through the library from {kiosks} kiosk processes")
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    shares = [indices[k::kiosks] for k in range(kiosks)]
    procs = [
        ctx.Process(target=_kiosk, args=(settings, share, members, sites, out)) for share in shares
    ]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    latencies = [x for share in results(procs, out, "kiosk") for x in share]
    seconds = time.perf_counter() - t0
    return {
        "members": len(indices),
        "kiosks": kiosks,
        "seconds": round(seconds, 1),
        "members_per_s": round(len(indices) / seconds, 1),
        "member_p50_ms": percentile_ms(latencies, 50),
        "member_p99_ms": percentile_ms(latencies, 99),
    }


# --- bulk fill --------------------------------------------------------------------------------


def fill_phase(ledger: Ledger, indices: list[int], members: int, sites: int) -> dict[str, Any]:
    """Members ``indices`` (of ``members``) written with COPY, ``BATCH`` a transaction."""
    log(f"fill: {len(indices):,} members in bulk")
    with ledger.store.transaction() as s:
        tenant = tenant_row(s)
        site_rows = {site.name: site for site in s.execute(sa.select(Site)).scalars()}
        notices = {name: _notice(s, site_rows[name], "v1").id for name in site_names(sites)}
        notice_sha = {name: _notice(s, site_rows[name], "v1").sha256 for name in site_names(sites)}
    transform = crypto.tenant_transform(ledger.keys.key, tenant.id)
    model = crypto.template_model_id()
    names = site_names(sites)
    evidence = hashlib.sha256(b"signed at the kiosk").hexdigest()
    source = hashlib.sha256(b"synthetic enrolment photo").hexdigest()
    t0 = time.perf_counter()
    done = 0
    for lo in range(0, len(indices), BATCH):
        batch = indices[lo : lo + BATCH]
        protected = crypto.protect(transform, raw_vectors(batch))
        now = dt.datetime.now(dt.UTC)
        rows_m, rows_c, rows_t = [], [], []
        for pos, i in enumerate(batch):
            site = names[site_of(i, members, sites)]
            mid, cid, tid = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
            rows_m.append((mid, tenant.id, site_rows[site].id, member_name(i), "{}", now, now))
            rows_c.append(
                (cid, tenant.id, mid, site_rows[site].id, "recognition", "kiosk",
                 notices[site], notice_sha[site], evidence, now)
            )  # fmt: skip
            sealed = crypto.seal(
                ledger.keys, protected[pos], crypto.template_aad(tenant.id, tid, mid)
            )
            rows_t.append(
                (tid, tenant.id, mid, cid, model, sealed, ledger.keys.key_id,
                 '{"synthetic": true}', source, now)
            )  # fmt: skip
        raw = ledger.store.engine.raw_connection()
        try:
            conn: Any = raw.driver_connection
            with conn.cursor() as cur:
                _copy(cur, "members (id, tenant_id, site_id, name, profile, created_at, "
                      "last_interaction_at)", rows_m)  # fmt: skip
                _copy(cur, "consents (id, tenant_id, member_id, site_id, purpose, channel, "
                      "notice_id, notice_sha256, evidence_sha256, given_at)", rows_c)  # fmt: skip
                _copy(cur, "templates (id, tenant_id, member_id, consent_id, model_id, sealed, "
                      "key_id, quality, source_sha256, created_at)", rows_t)  # fmt: skip
            conn.commit()
        finally:
            raw.close()
        done += len(batch)
        if done % (BATCH * 20) == 0 or done == len(indices):
            rate = done / (time.perf_counter() - t0)
            log(f"fill: {done:,} of {len(indices):,} ({rate:,.0f} members/s)")
    seconds = time.perf_counter() - t0
    return {
        "members": len(indices),
        "seconds": round(seconds, 1),
        "members_per_s": round(len(indices) / seconds, 1) if seconds else 0.0,
    }


def _copy(cur: Any, target: str, rows: list[tuple[Any, ...]]) -> None:
    with cur.copy(f"COPY {target} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# --- gallery load and withdrawal ------------------------------------------------------------------


def _site(ledger: Ledger, name: str) -> Site:
    with ledger.store.transaction() as s:
        return site_by_name(s, name)


def _load_gallery(settings: Settings, site_name: str, out: Any) -> None:
    from consentcam.consent.gallery import SiteGallery

    ledger = open_ledger(settings, "bench:gallery")
    site = _site(ledger, site_name)
    before = rss_mb()
    t0 = time.perf_counter()
    gallery = SiteGallery(ledger, site)
    gallery.refresh()
    seconds = time.perf_counter() - t0
    out.put({
        "members": gallery.members,
        "seconds": round(seconds, 2),
        "rss_mb_before": before,
        "rss_mb_after": rss_mb(),
    })  # fmt: skip


def gallery_phase(settings: Settings, site_name: str) -> dict[str, Any]:
    log(f"gallery: loading {site_name} in a fresh process")
    ctx = mp.get_context("spawn")  # a clean process: its memory is the gallery's
    out = ctx.Queue()
    proc = ctx.Process(target=_load_gallery, args=(settings, site_name, out))
    proc.start()
    result: dict[str, Any] = results([proc], out, "gallery")[0]
    return result


def _worker(settings: Settings, site_name: str, pipe: Connection) -> None:
    """A camera worker's gallery: loaded, watching the store, identifying on request until the
    member it was given comes back unknown."""
    from consentcam.consent.gallery import SiteGallery

    ledger = open_ledger(settings, "bench:worker")
    gallery = SiteGallery(ledger, _site(ledger, site_name))
    gallery.refresh()
    rng = np.random.default_rng(os.getpid())
    with gallery.watch():
        pipe.send("ready")
        while (request := pipe.recv()) is not None:
            index, member_id = request
            probe = raw_vectors([index])[0] + rng.normal(0, NOISE / 3, D).astype(np.float32)
            if gallery.identify(probe).member_id != member_id:
                pipe.send(("not recognised before withdrawal", None))
                continue
            pipe.send(("recognised", None))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if gallery.identify(probe).member_id != member_id:
                    pipe.send(("unknown", time.monotonic()))
                    break
                time.sleep(0.002)
            else:
                pipe.send(("still recognised after 30 s", None))


def withdrawal_phase(
    settings: Settings, ledger: Ledger, site_name: str, candidates: list[int], rounds: int
) -> dict[str, Any]:
    log(f"withdrawal: two workers hold {site_name}; {rounds} members withdrawn")
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    t0 = time.perf_counter()
    for _ in range(2):
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(settings, site_name, theirs))
        proc.start()
        theirs.close()  # the worker's end is the worker's: its exit closes the pipe
        pipes.append(mine)
        procs.append(proc)
    for pipe in pipes:
        if receive(pipe) != "ready":
            raise SystemExit("bench_scale: a worker failed to start")
    log(f"withdrawal: both workers ready after {time.perf_counter() - t0:.1f} s")
    ids = _member_ids(ledger, candidates[:rounds])
    latencies: list[list[float]] = [[], []]
    calls = []
    failures = []
    for index, member_id in zip(candidates, ids, strict=False):
        for pipe in pipes:
            pipe.send((index, member_id))
        states = [receive(pipe)[0] for pipe in pipes]
        if states != ["recognised", "recognised"]:
            failures.append(states)
            for pipe, state in zip(pipes, states, strict=True):
                if state == "recognised":
                    receive(pipe)
            continue
        start = time.monotonic()
        withdraw(ledger, member_id)
        calls.append(time.monotonic() - start)
        for k, pipe in enumerate(pipes):
            state, seen = receive(pipe)
            if seen is None:
                failures.append([state])
            else:
                latencies[k].append(seen - start)
    for pipe in pipes:
        pipe.send(None)
    for proc in procs:
        proc.join()
    every = [x for worker in latencies for x in worker]
    return {
        "site_members": _site_members(ledger, site_name),
        "withdrawals": len(calls),
        "withdraw_call_p50_ms": percentile_ms(calls, 50),
        "to_unknown_p50_ms": percentile_ms(every, 50),
        "to_unknown_p99_ms": percentile_ms(every, 99),
        "to_unknown_max_ms": percentile_ms(every, 100),
        "per_worker_p50_ms": [percentile_ms(w, 50) for w in latencies],
        "failures": failures,
    }


def _member_ids(ledger: Ledger, indices: list[int]) -> list[str]:
    names = [member_name(i) for i in indices]
    with ledger.store.transaction() as s:
        rows = dict(
            s.execute(sa.select(Member.name, Member.id).where(Member.name.in_(names))).all()
        )
    return [rows[n] for n in names]


def _site_members(ledger: Ledger, site_name: str) -> int:
    site = _site(ledger, site_name)
    with ledger.store.transaction() as s:
        return int(
            s.execute(
                sa.select(sa.func.count()).select_from(Member).where(Member.site_id == site.id)
            ).scalar_one()
        )


# --- pgvector chain-wide search ---------------------------------------------------------------


def pgvector_phase(
    ledger: Ledger, members: int, queries: int, ef_search: Sequence[int], m: int, ef_build: int
) -> dict[str, Any]:
    engine = ledger.store.engine
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
            version = conn.execute(
                sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            ).scalar_one()
    except sa.exc.DBAPIError as exc:
        reason = driver_reason(exc)
        log(f"pgvector: not available on this server ({reason})")
        return {"skipped": f"the server has no pgvector extension: {reason}"}
    log(f"pgvector {version}: opening every template and copying its vector")
    ids, vectors, load_s = _copy_vectors(ledger)
    log(f"pgvector: {len(ids):,} vectors in {load_s:.0f} s; building HNSW (m={m}, "
        f"ef_construction={ef_build})")  # fmt: skip
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("SET maintenance_work_mem = '4GB'"))
        conn.execute(sa.text("SET max_parallel_maintenance_workers = 1"))
        conn.execute(
            sa.text(
                "CREATE INDEX template_vectors_hnsw ON template_vectors USING hnsw "
                f"(embedding vector_l2_ops) WITH (m = {m}, ef_construction = {ef_build})"
            )
        )
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(SEED + 1)
    transform = crypto.tenant_transform(ledger.keys.key, _tenant_id(ledger))
    members_idx = rng.choice(members, size=queries - queries // 5, replace=False)
    member_probes = raw_vectors(sorted(members_idx.tolist())) + rng.normal(
        0, NOISE, (len(members_idx), D)
    ).astype(np.float32)
    strangers = rng.standard_normal((queries // 5, D)).astype(np.float32)
    strangers /= np.linalg.norm(strangers, axis=1, keepdims=True)
    probes = crypto.protect(transform, np.vstack([member_probes, strangers]))
    truth = _exact_nearest(vectors, probes)
    rows = []
    for ef in ef_search:
        rows.append(_search_row(engine, ids, vectors, probes, truth, len(member_probes), ef))
        log(f"pgvector ef_search={ef}: {rows[-1]}")
    return {
        "pgvector": version,
        "vectors": len(ids),
        "copy_seconds": round(load_s, 1),
        "hnsw_build_seconds": round(build_s, 1),
        "hnsw": {"m": m, "ef_construction": ef_build},
        "queries": len(probes),
        "member_queries": len(member_probes),
        "search": rows,
    }


def _tenant_id(ledger: Ledger) -> str:
    with ledger.store.transaction() as s:
        return tenant_row(s).id


def _copy_vectors(ledger: Ledger) -> tuple[list[str], np.ndarray, float]:
    """Every live template opened with the store's key and copied, as the tenant-transformed
    vector, into ``template_vectors`` (COPY): what a chain-wide index would hold."""

    engine = ledger.store.engine
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE template_vectors (template_id varchar(32) PRIMARY KEY, "
                "member_id varchar(32) NOT NULL, embedding vector(128) NOT NULL)"
            )
        )
    t0 = time.perf_counter()
    ids: list[str] = []
    chunks: list[np.ndarray] = []
    # Two connections: a server-side cursor cannot be read while the same connection COPYs.
    source, target = engine.raw_connection(), engine.raw_connection()
    try:
        reader: Any = source.driver_connection
        writer: Any = target.driver_connection
        with (
            reader.cursor(name="templates") as read,
            writer.cursor() as write,
            write.copy(
                "COPY template_vectors (template_id, member_id, embedding) FROM STDIN"
            ) as copy,
        ):
            read.itersize = 20_000
            read.execute("SELECT id, member_id, tenant_id, sealed FROM templates")
            for tid, mid, tenant, sealed in read:
                aad = crypto.template_aad(tenant, tid, mid)
                vector = crypto.open_sealed(ledger.keys, bytes(sealed), aad)
                copy.write_row((tid, mid, _literal(vector)))
                ids.append(tid)
                chunks.append(vector)
        writer.commit()
        reader.rollback()
    finally:
        source.close()
        target.close()
    return ids, np.vstack(chunks).astype(np.float32), time.perf_counter() - t0


def _exact_nearest(vectors: np.ndarray, probes: np.ndarray) -> np.ndarray:
    """Index and distance of each probe's true nearest template (float64 brute force)."""
    best = np.full(len(probes), np.inf)
    where = np.zeros(len(probes), np.int64)
    p64 = probes.astype(np.float64)
    for lo in range(0, len(vectors), CHUNK):
        block = vectors[lo : lo + CHUNK].astype(np.float64)
        d = (p64**2).sum(1)[:, None] - 2 * p64 @ block.T + (block**2).sum(1)[None, :]
        k = d.argmin(1)
        better = d[np.arange(len(probes)), k] < best
        best[better] = d[np.arange(len(probes)), k][better]
        where[better] = lo + k[better]
    return np.stack([where, np.sqrt(np.maximum(best, 0))], axis=1)


def _search_row(
    engine: sa.Engine,
    ids: list[str],
    vectors: np.ndarray,
    probes: np.ndarray,
    truth: np.ndarray,
    members: int,
    ef: int,
) -> dict[str, Any]:
    position = {tid: k for k, tid in enumerate(ids)}
    seconds, hits = [], []
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute(f"SET hnsw.ef_search = {int(ef)}")
            query = (
                "SELECT template_id FROM template_vectors ORDER BY embedding <-> %s::vector LIMIT 1"
            )
            for probe in probes[:5]:  # warm-up
                cur.execute(query, (_literal(probe),))
                cur.fetchone()
            for k, probe in enumerate(probes):
                literal = _literal(probe)
                t0 = time.perf_counter()
                cur.execute(query, (literal,))
                (tid,) = cur.fetchone()
                seconds.append(time.perf_counter() - t0)
                got = vectors[position[tid]].astype(np.float64)
                # A hit at the true nearest distance counts (ties are not misses).
                hits.append(np.linalg.norm(got - probe.astype(np.float64)) <= truth[k, 1] + 1e-6)
        conn.rollback()
    finally:
        raw.close()
    return {
        "ef_search": ef,
        "p50_ms": percentile_ms(seconds, 50),
        "p99_ms": percentile_ms(seconds, 99),
        "recall_at_1": round(float(np.mean(hits)), 4),
        "recall_at_1_members": round(float(np.mean(hits[:members])), 4),
    }


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


# --- main -------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


def server_version(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        version = str(conn.execute(sa.text("SHOW server_version")).scalar_one())
    engine.dispose()
    return version


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: bench_scale.py --db-url 'postgresql+psycopg://me@/postgres?"
        "host=/var/run/postgresql' --members 1000000 --sites 10 --json",
    )
    parser.add_argument("--db-url", required=True, help="PostgreSQL server (a database is made)")
    parser.add_argument("--members", type=int, default=1_000_000, help="members in all")
    parser.add_argument("--sites", type=int, default=10, help="sites sharing them evenly")
    parser.add_argument(
        "--library-members", type=int, default=5_000, help="members enrolled through the library"
    )
    parser.add_argument("--kiosks", type=int, default=2, help="enrolment processes")
    parser.add_argument("--withdrawals", type=int, default=20, help="members withdrawn")
    parser.add_argument("--queries", type=int, default=1_000, help="pgvector search probes")
    # The in-memory HNSW index's defaults (match/index.py), so the two are compared like for like.
    parser.add_argument("--ef-search", default="64,128,256", help="pgvector hnsw.ef_search values")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--hnsw-ef-construction", type=int, default=200)
    parser.add_argument("--skip", default="", help=f"phases to skip, of: {','.join(PHASES)}")
    parser.add_argument("--json", action="store_true", help="print only the JSON document")
    args = parser.parse_args(argv)
    skip = {p for p in args.skip.split(",") if p}
    if not args.db_url.startswith("postgresql") or skip - set(PHASES):
        parser.error("--db-url must be a PostgreSQL URL; --skip takes phase names")
    if not 0 < args.library_members <= args.members or args.sites < 1:
        parser.error("need 0 < --library-members <= --members and --sites >= 1")

    report: dict[str, Any] = {
        "machine": machine(),
        "postgresql": server_version(args.db_url),
        "members": args.members,
        "sites": args.sites,
        # Other work on the machine skews every figure: the load average says how much.
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    with (
        scratch_database(args.db_url, "consentcam_scale") as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        settings = bench_settings(url, Path(tmp))
        ledger = open_ledger(settings, "bench:admin", create=True)
        for name in site_names(args.sites):
            add_site(ledger, name, "eu")
        # Library members are spread over the sites like everyone else.
        step = args.members // args.library_members
        library = list(range(0, step * args.library_members, step))
        if "enrol" not in skip:
            report["enrol"] = enrol_phase(settings, library, args.members, args.sites, args.kiosks)
        enrolled = set(library) if "enrol" not in skip else set()
        if "fill" not in skip:
            rest = [i for i in range(args.members) if i not in enrolled]
            report["fill"] = fill_phase(ledger, rest, args.members, args.sites)
        first = site_names(args.sites)[0]
        if "gallery" not in skip:
            report["gallery"] = gallery_phase(settings, first)
        if "withdrawal" not in skip:
            per_site = -(-args.members // args.sites)
            rng = np.random.default_rng(SEED + 2)
            candidates = rng.choice(per_site, size=args.withdrawals, replace=False).tolist()
            report["withdrawal"] = withdrawal_phase(
                settings, ledger, first, candidates, args.withdrawals
            )
        if "pgvector" not in skip:
            report["pgvector"] = pgvector_phase(
                ledger,
                args.members,
                args.queries,
                [int(x) for x in args.ef_search.split(",")],
                args.hnsw_m,
                args.hnsw_ef_construction,
            )
        ledger.store.engine.dispose()
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
