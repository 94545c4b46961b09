"""Per-site in-memory gallery indexes for 1:N search.

A camera worker keeps its site's enrolled templates in one of these and asks, per face, for the
closest members. Two backends sit behind the ``GalleryIndex`` protocol:

* ``ExactIndex`` - numpy brute force. Exact, cheap to update, and fast enough for the galleries a
  single site really has (about 10 ms per probe at 200,000 templates on one core).
* ``HnswIndex`` - an HNSW graph from FAISS (``faiss-cpu``, optional). Sub-millisecond at a million
  templates, approximate, and slower to build and to delete from.

Distances are Euclidean, the metric of ``consentcam.match.scores.distances`` and of the model card's
thresholds. Both backends validate a whole call before changing anything, so bad input raises
``InputError`` and leaves the index as it was. Neither is thread-safe: the worker that owns an
index serialises its updates and searches.

Erasure note: removing a template also overwrites its vector in memory (the vacated row of the
exact index, the stored vector of an HNSW node), so a withdrawn member's template does not linger
in process memory until the next rebuild.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from consentcam.errors import DependencyError, InputError

if TYPE_CHECKING:
    from types import ModuleType

FloatArray = npt.NDArray[np.float32]

DIM = 128  # the dlib ResNet embedding
FAISS_HINT = 'install it with: pip install "faiss-cpu>=1.9" (or use the exact index)'


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: an enrolled template's id and its Euclidean distance to the probe."""

    id: str
    distance: float


@runtime_checkable
class GalleryIndex(Protocol):
    """The seam between matching and whichever nearest-neighbour structure a site uses."""

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add templates (float32, shape (n, dim)); an id already present gets the new vector."""
        ...

    def remove(self, ids: Sequence[str]) -> int:
        """Remove templates by id; unknown ids are ignored. Returns how many were removed."""
        ...

    def search(self, probe: np.ndarray, k: int = 1) -> list[Hit]:
        """At most ``k`` templates closest to ``probe``, closest first; [] when empty."""
        ...

    def __len__(self) -> int: ...

    def ids(self) -> list[str]:
        """The ids currently held (no particular order)."""
        ...

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's own arrays and structures, id bookkeeping included."""
        ...


IndexKind = Literal["exact", "hnsw", "auto"]


def make_index(kind: IndexKind, expected_size: int, exact_max: int = 200_000) -> GalleryIndex:
    """The index for a gallery of about ``expected_size`` templates.

    ``auto`` stays exact up to ``exact_max`` templates: below that a brute-force scan is already
    fast enough on one core, and exact search has no recall loss, no build cost and O(1) deletes.
    """
    if expected_size < 0:
        raise InputError(f"expected_size must be at least 0, got {expected_size}")
    if kind == "exact" or (kind == "auto" and expected_size <= exact_max):
        return ExactIndex()
    if kind in ("hnsw", "auto"):
        return HnswIndex()
    raise InputError(f"unknown index kind {kind!r}: expected 'exact', 'hnsw' or 'auto'")


class ExactIndex:
    """Brute-force search over a contiguous float32 matrix.

    Rows are kept packed (a removal moves the last row into the hole), so a search is one
    matrix-vector product over exactly the live rows. Squared norms are stored per row, which
    turns ||g - p||^2 into ||g||^2 - 2 g.p + ||p||^2: one BLAS gemv instead of an (n, d) temporary.
    """

    def __init__(self, dim: int = DIM) -> None:
        if dim < 1:
            raise InputError(f"dim must be at least 1, got {dim}")
        self.dim = dim
        self._vectors: FloatArray = np.zeros((0, dim), np.float32)
        self._sqnorms: FloatArray = np.zeros(0, np.float32)
        self._row_ids: list[str] = []
        self._rows: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._row_ids)

    def ids(self) -> list[str]:
        return list(self._row_ids)

    @property
    def nbytes(self) -> int:
        # The arrays at their allocated capacity: that is what the process holds.
        arrays = self._vectors.nbytes + self._sqnorms.nbytes
        return arrays + _id_bytes(self._rows, self._row_ids)

    def add(self, ids: Sequence[str], vectors: npt.ArrayLike) -> None:
        new_ids, v = _checked_batch(ids, vectors, self.dim)
        fresh = sum(1 for i in new_ids if i not in self._rows)
        self._reserve(len(self) + fresh)
        rows = np.empty(len(new_ids), np.intp)
        for j, id_ in enumerate(new_ids):
            row = self._rows.get(id_)
            if row is None:
                row = len(self._row_ids)
                self._rows[id_] = row
                self._row_ids.append(id_)
            rows[j] = row
        self._vectors[rows] = v
        self._sqnorms[rows] = np.einsum("ij,ij->i", v, v)

    def remove(self, ids: Sequence[str]) -> int:
        removed = 0
        for id_ in _checked_ids(ids):
            row = self._rows.pop(id_, None)
            if row is None:
                continue
            last = len(self._row_ids) - 1
            if row != last:
                moved = self._row_ids[last]
                self._vectors[row] = self._vectors[last]
                self._sqnorms[row] = self._sqnorms[last]
                self._row_ids[row] = moved
                self._rows[moved] = row
            # Scrub the vacated row: the template must not outlive its removal in memory.
            self._vectors[last] = 0
            self._sqnorms[last] = 0
            self._row_ids.pop()
            removed += 1
        self._maybe_shrink()
        return removed

    def search(self, probe: npt.ArrayLike, k: int = 1) -> list[Hit]:
        p = _checked_probe(probe, self.dim)
        _check_k(k)
        n = len(self._row_ids)
        if n == 0:
            return []
        g = self._vectors[:n]
        # ||p||^2 is the same for every row, so it is left out of the ranking.
        d2 = g @ p
        d2 *= -2
        d2 += self._sqnorms[:n]
        k = min(k, n)
        if k == 1:
            top = np.array([np.argmin(d2)])  # same answer as argpartition, one pass, no copy
        elif k == n:
            top = np.arange(n)
        else:
            top = np.argpartition(d2, k - 1)[:k]
        # Report distances computed directly: the expansion loses precision near zero
        # (a probe equal to a template would come out ~1e-4 instead of 0).
        exact = np.linalg.norm(g[top] - p, axis=1)
        order = np.argsort(exact, kind="stable")
        return [Hit(self._row_ids[int(top[i])], float(exact[i])) for i in order]

    def _reserve(self, needed: int) -> None:
        capacity = len(self._vectors)
        if needed <= capacity:
            return
        # Grow geometrically so that one-at-a-time enrolment stays amortised O(1).
        new_capacity = max(needed, capacity + capacity // 2)
        self._resize(new_capacity)

    def _maybe_shrink(self) -> None:
        # Give memory back after mass erasure, with slack so add/remove cycles do not thrash.
        n, capacity = len(self._row_ids), len(self._vectors)
        if capacity > 1024 and n < capacity // 4:
            self._resize(max(2 * n, 1024))

    def _resize(self, capacity: int) -> None:
        n = len(self._row_ids)
        vectors = np.zeros((capacity, self.dim), np.float32)
        sqnorms = np.zeros(capacity, np.float32)
        vectors[:n] = self._vectors[:n]
        sqnorms[:n] = self._sqnorms[:n]
        self._vectors[:n] = 0  # do not leave a copy of the templates behind in freed memory
        self._vectors, self._sqnorms = vectors, sqnorms


class HnswIndex:
    """Approximate search on a FAISS HNSW graph (``IndexHNSWFlat``, L2), with string ids.

    FAISS labels nodes 0, 1, 2, ... in insertion order and cannot delete from an HNSW graph, so:

    * a removed or replaced template becomes a tombstone: its bit in the ``alive`` bitmap is
      cleared and searches pass that bitmap to FAISS as an ``IDSelectorBitmap``. Tombstones are
      still walked through (they keep the graph connected) but never returned, and FAISS keeps
      searching until it has ``k`` live results, so no over-fetch guesswork is needed;
    * the tombstone's stored vector is overwritten with the mean of its graph neighbours, which
      keeps navigation sensible while the member's template is gone from memory;
    * ``rebuild()`` builds a fresh graph from the live templates. It runs automatically when
      tombstones exceed ``rebuild_fraction`` of the stored nodes, because dead nodes cost memory
      and search time. A rebuild costs as much as the first build (see below); pass
      ``rebuild_fraction=None`` to call ``rebuild()`` yourself off the hot path. Removal itself
      is immediate either way.

    Defaults (``m=32``, ``ef_construction=200``, ``ef_search=128``) were chosen with
    ``benchmarks/bench_search.py`` at a million templates. On face-like data (``--data face``:
    drawn from a Gaussian fitted to real embeddings) ``ef_search=128`` found the exact nearest
    template for all 200 probes (recall@1 1.000) at 0.87 ms p50 on one core, where 80 found 97%.
    On uniformly random unit vectors, the hardest case for a graph index, it found all 180 member
    probes at 1.2 ms (80: 179 of 180 at 0.76 ms). A missed member is the costlier error, so the
    wider search is the default. On uniform data a richer graph
    (ef_construction) buys far more recall per query millisecond than a wider search does, so
    the cost is put into the build: about 15 minutes for a million templates on two cores. For a
    non-member probe the graph often returns a near-tie stranger rather than the exact nearest
    one; both lie far beyond any match threshold, so the answer ("unknown") is the same.
    The graph costs about 4 * 2 * m bytes per template on top of the 512-byte vector.
    """

    def __init__(
        self,
        dim: int = DIM,
        m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        rebuild_fraction: float | None = 0.25,
    ) -> None:
        if dim < 1 or m < 2 or ef_construction < 1 or ef_search < 1:
            raise InputError(
                f"need dim >= 1, m >= 2, ef_construction >= 1, ef_search >= 1; got dim={dim}, "
                f"m={m}, ef_construction={ef_construction}, ef_search={ef_search}"
            )
        if rebuild_fraction is not None and not 0 < rebuild_fraction <= 1:
            raise InputError(f"rebuild_fraction must be in (0, 1] or None, got {rebuild_fraction}")
        self._faiss = _import_faiss()
        self.dim = dim
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.rebuild_fraction = rebuild_fraction
        self._index: Any = self._new_graph()
        self._labels: dict[str, int] = {}  # id -> FAISS label
        self._label_ids: list[str | None] = []  # FAISS label -> id, None for a tombstone
        self._alive: npt.NDArray[np.uint8] = np.zeros(0, np.uint8)  # bit per label, LSB first
        self._dead = 0
        self._selector: Any = None  # cached IDSelectorBitmap; it points into self._alive

    def __len__(self) -> int:
        return len(self._labels)

    def ids(self) -> list[str]:
        return list(self._labels)

    @property
    def tombstones(self) -> int:
        """Removed or replaced nodes still in the graph (cleared by ``rebuild``)."""
        return self._dead

    @property
    def nbytes(self) -> int:
        hnsw = self._index.hnsw
        graph: int = (
            self._index.ntotal * self.dim * 4  # stored float32 vectors
            + hnsw.neighbors.size() * 4  # int32 neighbour lists, all levels
            + hnsw.offsets.size() * 8  # size_t start of each node's lists
            + hnsw.levels.size() * 4  # int level of each node
        )
        return graph + self._alive.nbytes + _id_bytes(self._labels, self._label_ids)

    def add(self, ids: Sequence[str], vectors: npt.ArrayLike) -> None:
        new_ids, v = _checked_batch(ids, vectors, self.dim)
        if not new_ids:
            return
        replaced = [self._labels[i] for i in new_ids if i in self._labels]
        first = self._index.ntotal
        self._index.add(v)  # first: if FAISS fails, the old templates are still there
        self._bury(replaced)
        for j, id_ in enumerate(new_ids):
            self._labels[id_] = first + j
        self._label_ids.extend(new_ids)
        self._mark_alive(first, first + len(new_ids))
        self._maybe_rebuild()

    def remove(self, ids: Sequence[str]) -> int:
        labels = [
            self._labels.pop(i) for i in dict.fromkeys(_checked_ids(ids)) if i in self._labels
        ]
        self._bury(labels)
        self._maybe_rebuild()
        return len(labels)

    def search(self, probe: npt.ArrayLike, k: int = 1) -> list[Hit]:
        p = _checked_probe(probe, self.dim)
        _check_k(k)
        k = min(k, len(self._labels))
        if k == 0:
            return []
        params = self._faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, k)
        if self._dead:
            params.sel = self._live_selector()
        d2, labels = self._index.search(p[None, :], k, params=params)
        dist = np.sqrt(np.maximum(d2[0], 0))  # FAISS reports squared L2
        hits = []
        for d, label in zip(dist.tolist(), labels[0].tolist(), strict=True):
            # FAISS pads with -1 when its walk found fewer than k live nodes.
            id_ = self._label_ids[label] if label >= 0 else None
            if id_ is not None:
                hits.append(Hit(id_, d))
        return hits

    def rebuild(self) -> None:
        """Build a fresh graph from the live templates only, dropping every tombstone."""
        live = sorted(self._labels.items(), key=lambda item: item[1])
        vectors = self._stored_vectors()[[label for _, label in live]]  # a copy
        index = self._new_graph()
        if len(vectors):
            index.add(vectors)
        self._index = index
        self._labels = {id_: j for j, (id_, _) in enumerate(live)}
        self._label_ids = [id_ for id_, _ in live]
        self._alive = np.zeros(0, np.uint8)
        self._mark_alive(0, len(live))
        self._dead = 0

    def _new_graph(self) -> Any:
        index = self._faiss.IndexHNSWFlat(self.dim, self.m)  # L2 metric by default
        index.hnsw.efConstruction = self.ef_construction
        return index

    def _stored_vectors(self) -> FloatArray:
        # A writable view of the graph's float32 storage; valid only until the next add.
        n = self._index.ntotal
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        flat = self._faiss.downcast_index(self._index.storage)
        view: FloatArray = self._faiss.rev_swig_ptr(flat.get_xb(), n * self.dim)
        return view.reshape(n, self.dim)

    def _bury(self, labels: Sequence[int]) -> None:
        """Tombstone ``labels`` and overwrite their vectors."""
        if not labels:
            return
        stored = self._stored_vectors()
        hnsw = self._index.hnsw
        neighbours = self._faiss.rev_swig_ptr(hnsw.neighbors.data(), hnsw.neighbors.size())
        offsets = self._faiss.rev_swig_ptr(hnsw.offsets.data(), hnsw.offsets.size())
        level0 = hnsw.nb_neighbors(0)
        for label in labels:
            self._alive[label >> 3] &= np.uint8(~(1 << (label & 7)) & 0xFF)
            self._label_ids[label] = None
            start = int(offsets[label])
            near = neighbours[start : start + level0]
            near = near[near >= 0]
            # The neighbours' centroid keeps the node where it was in the graph's geometry
            # without keeping anything of the removed template itself.
            stored[label] = stored[near].mean(axis=0) if len(near) else 0
        self._dead += len(labels)
        self._selector = None

    def _mark_alive(self, start: int, stop: int) -> None:
        """Set the bits of labels start..stop-1, growing the bitmap as needed."""
        needed = (stop + 7) // 8
        if needed > len(self._alive):
            grown = np.zeros(max(needed, 2 * len(self._alive)), np.uint8)
            grown[: len(self._alive)] = self._alive
            self._alive = grown
        whole_from, whole_to = (start + 7) // 8, stop // 8
        if whole_to > whole_from:
            self._alive[whole_from:whole_to] = 0xFF  # whole bytes at once: bulk adds stay fast
        for label in (
            *range(start, min(stop, whole_from * 8)),
            *range(max(start, whole_to * 8), stop),
        ):
            self._alive[label >> 3] |= np.uint8(1 << (label & 7))
        self._selector = None

    def _live_selector(self) -> Any:
        # FAISS keeps only a raw pointer to the bitmap, so self._alive must outlive the selector;
        # it is rebuilt whenever the bitmap is reallocated or changed.
        if self._selector is None:
            self._selector = self._faiss.IDSelectorBitmap(
                len(self._alive) * 8, self._faiss.swig_ptr(self._alive)
            )
        return self._selector

    def _maybe_rebuild(self) -> None:
        stored = self._index.ntotal
        if not stored:
            return
        if not self._labels or (
            self.rebuild_fraction is not None and self._dead > self.rebuild_fraction * stored
        ):
            self.rebuild()


def _import_faiss() -> ModuleType:
    # Imported on first use: faiss is optional and loading it costs ~100 ms and ~30 MB.
    try:
        import faiss
    except ImportError as exc:
        raise DependencyError(f"the HNSW gallery index needs faiss-cpu; {FAISS_HINT}") from exc
    return faiss


def _checked_ids(ids: Sequence[str]) -> list[str]:
    # A bare string is a Sequence[str] too; taking it letter by letter would be a silent bug.
    if isinstance(ids, str | bytes):
        raise InputError("ids must be a sequence of strings, not one string")
    try:
        out = list(ids)
    except TypeError as exc:
        raise InputError(f"ids must be a sequence of strings, got {type(ids).__name__}") from exc
    bad = next((i for i in out if not isinstance(i, str)), None)
    if bad is not None:
        raise InputError(f"ids must be strings, got {type(bad).__name__}")
    return out


def _checked_batch(
    ids: Sequence[str], vectors: npt.ArrayLike, dim: int
) -> tuple[list[str], FloatArray]:
    id_list = _checked_ids(ids)
    if len(set(id_list)) != len(id_list):
        raise InputError("ids must be unique within one add() call")
    try:
        with np.errstate(over="ignore"):  # out-of-range float64 becomes inf, rejected below
            # No copy when already float32 and C-ordered: both backends copy into their own storage.
            v = np.asarray(vectors, dtype=np.float32, order="C")
    except (TypeError, ValueError) as exc:
        raise InputError(f"vectors must be numeric: {exc}") from exc
    if v.ndim == 1 and v.size == 0 and not id_list:
        return [], np.zeros((0, dim), np.float32)
    if v.ndim != 2 or v.shape[1] != dim:
        raise InputError(f"vectors must have shape (n, {dim}), got {v.shape}")
    if len(v) != len(id_list):
        raise InputError(f"got {len(id_list)} ids for {len(v)} vectors")
    if not np.isfinite(v).all():
        raise InputError("vectors contain NaN or infinite values")
    return id_list, v


def _checked_probe(probe: npt.ArrayLike, dim: int) -> FloatArray:
    try:
        with np.errstate(over="ignore"):
            p = np.ascontiguousarray(probe, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"probe must be numeric: {exc}") from exc
    if p.shape != (dim,):
        raise InputError(f"probe must have shape ({dim},), got {p.shape}")
    if not np.isfinite(p).all():
        raise InputError("probe contains NaN or infinite values")
    return p


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InputError(f"k must be an integer of at least 1, got {k!r}")


def _id_bytes(mapping: dict[str, int], by_position: Sequence[str | None]) -> int:
    """Shallow sizes of the id bookkeeping: dict, list, id strings and boxed ints."""
    total = sys.getsizeof(mapping) + sys.getsizeof(by_position)
    for id_, position in mapping.items():
        total += sys.getsizeof(id_)
        if position > 256:  # CPython shares the small ints, larger ones are objects of their own
            total += sys.getsizeof(position)
    return total
