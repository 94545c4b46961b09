from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from consentcam.errors import DependencyError, InputError
from consentcam.match.index import ExactIndex, GalleryIndex, Hit, HnswIndex, make_index
from consentcam.match.scores import distances, search

D = 128


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, D), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def ids_for(n: int, prefix: str = "m") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


@pytest.fixture(autouse=True, scope="module")
def _faiss_single_threaded() -> Iterator[None]:
    # Test galleries are tiny; on a busy machine OpenMP's thread hand-offs made building them
    # ten times slower than one thread does.
    try:
        import faiss
    except ImportError:
        yield
        return
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


@pytest.fixture(params=["exact", "hnsw"])
def new_index(request: pytest.FixtureRequest) -> Callable[[], GalleryIndex]:
    if request.param == "exact":
        return ExactIndex
    pytest.importorskip("faiss")
    return HnswIndex


@pytest.fixture
def filled(new_index: Callable[[], GalleryIndex]) -> tuple[GalleryIndex, np.ndarray]:
    vectors = unit_vectors(np.random.default_rng(7), 200)
    index = new_index()
    index.add(ids_for(200), vectors)
    return index, vectors


def snapshot(index: GalleryIndex, probe: np.ndarray) -> tuple[Any, ...]:
    return len(index), sorted(index.ids()), index.search(probe, k=5)


def test_backends_satisfy_the_protocol(new_index: Callable[[], GalleryIndex]) -> None:
    assert isinstance(new_index(), GalleryIndex)


def test_empty_index_gives_empty_results(new_index: Callable[[], GalleryIndex]) -> None:
    index = new_index()
    assert len(index) == 0
    assert index.ids() == []
    assert index.search(np.zeros(D, np.float32), k=3) == []
    index.add([], np.zeros((0, D), np.float32))
    assert len(index) == 0
    assert index.remove(["nobody"]) == 0


def test_search_finds_the_template_closest_first(filled: tuple[GalleryIndex, np.ndarray]) -> None:
    index, vectors = filled
    hits = index.search(vectors[42], k=3)
    assert hits[0].id == "m42"
    assert hits[0].distance == pytest.approx(0, abs=1e-6)
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    # Same metric as scores.distances.
    expected = distances(vectors, vectors[42])
    for hit in hits:
        assert hit.distance == pytest.approx(float(expected[int(hit.id[1:])]), abs=1e-5)
    assert isinstance(hits[0], Hit)


def test_k_beyond_the_gallery_returns_everything(new_index: Callable[[], GalleryIndex]) -> None:
    index = new_index()
    vectors = unit_vectors(np.random.default_rng(1), 4)
    index.add(ids_for(4), vectors)
    hits = index.search(vectors[0], k=10)
    assert sorted(h.id for h in hits) == ids_for(4)


def test_adding_an_existing_id_replaces_its_vector(
    filled: tuple[GalleryIndex, np.ndarray],
) -> None:
    index, vectors = filled
    index.add(["m3"], vectors[150:151] + 0.001)
    assert len(index) == 200
    assert [h.id for h in index.search(vectors[150], k=2)] in (["m150", "m3"], ["m3", "m150"])
    assert all(h.id != "m3" for h in index.search(vectors[3], k=2))


def test_remove_counts_and_ignores_unknown_ids(filled: tuple[GalleryIndex, np.ndarray]) -> None:
    index, vectors = filled
    assert index.remove(["m10", "m11", "m10", "stranger"]) == 2
    assert len(index) == 198
    assert "m10" not in index.ids()
    assert all(h.id not in ("m10", "m11") for h in index.search(vectors[10], k=20))
    assert index.remove(index.ids()) == 198
    assert len(index) == 0
    assert index.search(vectors[0]) == []
    index.add(["m10"], vectors[10:11])  # usable again after being emptied
    assert index.search(vectors[10])[0].id == "m10"


def test_interleaved_updates_match_a_plain_dict(new_index: Callable[[], GalleryIndex]) -> None:
    rng = np.random.default_rng(3)
    index, model = new_index(), dict[str, np.ndarray]()
    for step in range(30):
        new = unit_vectors(rng, 10)
        names = [f"p{int(i)}" for i in rng.choice(60, size=10, replace=False)]
        index.add(names, new)
        model.update(zip(names, new, strict=True))
        gone = [f"p{int(i)}" for i in rng.choice(60, size=6, replace=False)]
        assert index.remove(gone) == sum(model.pop(g, None) is not None for g in gone)
        assert sorted(index.ids()) == sorted(model), step
    for name, vector in model.items():
        assert index.search(vector)[0].id == name


def test_memory_is_reported(filled: tuple[GalleryIndex, np.ndarray]) -> None:
    index, _ = filled
    # At least the float32 vectors themselves, and not absurdly more.
    assert 512 * len(index) <= index.nbytes <= 4096 * len(index)


BAD_ADDS: list[tuple[str, Any, Any]] = [
    ("wrong dimension", ["a"], np.zeros((1, D - 1), np.float32)),
    ("one vector not a matrix", ["a"], np.zeros(D, np.float32)),
    ("nan", ["a", "b"], np.array([np.zeros(D), np.full(D, np.nan)], np.float32)),
    ("inf", ["a"], np.full((1, D), np.inf, np.float32)),
    ("too big for float32", ["a"], np.full((1, D), 1e300)),
    ("fewer ids", ["a"], np.zeros((2, D), np.float32)),
    ("more ids", ["a", "b", "c"], np.zeros((2, D), np.float32)),
    ("duplicate ids", ["a", "a"], np.zeros((2, D), np.float32)),
    ("one string as ids", "ab", np.zeros((2, D), np.float32)),
    ("non-string id", [1], np.zeros((1, D), np.float32)),
    ("not numeric", ["a"], [["x"] * D]),
]


@pytest.mark.parametrize(("why", "ids", "vectors"), BAD_ADDS, ids=[b[0] for b in BAD_ADDS])
def test_bad_add_raises_and_leaves_index_unchanged(
    filled: tuple[GalleryIndex, np.ndarray], why: str, ids: Any, vectors: Any
) -> None:
    index, stored = filled
    before = snapshot(index, stored[0])
    with pytest.raises(InputError):
        index.add(ids, vectors)
    assert snapshot(index, stored[0]) == before


BAD_SEARCHES: list[tuple[str, Any, Any]] = [
    ("k zero", np.zeros(D, np.float32), 0),
    ("k negative", np.zeros(D, np.float32), -1),
    ("k not an int", np.zeros(D, np.float32), 1.5),
    ("wrong dimension", np.zeros(D + 1, np.float32), 1),
    ("a matrix", np.zeros((1, D), np.float32), 1),
    ("nan", np.full(D, np.nan, np.float32), 1),
]


@pytest.mark.parametrize(("why", "probe", "k"), BAD_SEARCHES, ids=[b[0] for b in BAD_SEARCHES])
def test_bad_search_raises(
    filled: tuple[GalleryIndex, np.ndarray], why: str, probe: Any, k: Any
) -> None:
    index, stored = filled
    before = snapshot(index, stored[0])
    with pytest.raises(InputError):
        index.search(probe, k=k)
    assert snapshot(index, stored[0]) == before


def test_bad_remove_raises_and_leaves_index_unchanged(
    filled: tuple[GalleryIndex, np.ndarray],
) -> None:
    index, stored = filled
    before = snapshot(index, stored[0])
    for bad in ("m1", ["m1", 2], 5):
        with pytest.raises(InputError):
            index.remove(bad)  # type: ignore[arg-type]
    assert snapshot(index, stored[0]) == before


def test_exact_ranking_equals_brute_force() -> None:
    rng = np.random.default_rng(11)
    gallery = rng.normal(size=(3000, D)).astype(np.float32)  # not unit length on purpose
    index = ExactIndex()
    index.add(ids_for(3000), gallery)
    for probe in rng.normal(size=(40, D)).astype(np.float32):
        ours = index.search(probe, k=7)
        truth = search(gallery, probe, k=7)
        assert [h.id for h in ours] == [f"m{m.index}" for m in truth]
        assert np.allclose([h.distance for h in ours], [m.distance for m in truth], atol=1e-5)


def test_exact_still_equals_brute_force_after_swap_removes() -> None:
    rng = np.random.default_rng(12)
    gallery = unit_vectors(rng, 500)
    index = ExactIndex()
    index.add(ids_for(500), gallery)
    gone = set(rng.choice(500, size=200, replace=False).tolist())
    index.remove([f"m{i}" for i in sorted(gone)])
    kept = np.array(sorted(set(range(500)) - gone))
    for probe in unit_vectors(rng, 20):
        truth = search(gallery[kept], probe, k=5)
        assert [h.id for h in index.search(probe, k=5)] == [f"m{kept[m.index]}" for m in truth]


def test_removed_templates_are_scrubbed_from_memory() -> None:
    rng = np.random.default_rng(13)
    gallery = unit_vectors(rng, 2000)
    exact = ExactIndex()
    exact.add(ids_for(2000), gallery)
    exact.remove(["m5", "m1999"])
    raw = exact._vectors  # the whole allocation, spare capacity included
    for i in (5, 1999):
        assert not (raw == gallery[i]).all(axis=1).any()


def test_hnsw_recall_on_noisy_copies_of_members() -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(21)
    gallery = unit_vectors(rng, 5000)
    index = HnswIndex()
    index.add(ids_for(5000), gallery)
    members = rng.choice(5000, size=400, replace=False)
    probes = gallery[members] + 0.03 * rng.standard_normal((400, D), dtype=np.float32)
    found = [index.search(p)[0].id for p in probes]
    recall = np.mean([f == f"m{m}" for f, m in zip(found, members, strict=True)])
    assert recall >= 0.98


def test_hnsw_tombstones_are_skipped_scrubbed_and_rebuilt_away() -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(22)
    gallery = unit_vectors(rng, 1000)
    index = HnswIndex(rebuild_fraction=None)
    index.add(ids_for(1000), gallery)
    gone = [f"m{i}" for i in range(0, 1000, 2)]
    assert index.remove(gone) == 500
    assert index.tombstones == 500
    stored = index._stored_vectors()
    assert not any((stored == gallery[i]).all(axis=1).any() for i in range(0, 1000, 2))
    for i in range(0, 1000, 50):
        hits = index.search(gallery[i], k=10)
        assert len(hits) == 10
        assert all(int(h.id[1:]) % 2 == 1 for h in hits)
    before = [index.search(gallery[i])[0].id for i in range(1, 1000, 50)]
    index.rebuild()
    assert index.tombstones == 0
    assert len(index) == 500
    assert [index.search(gallery[i])[0].id for i in range(1, 1000, 50)] == before


def test_hnsw_rebuilds_itself_past_the_tombstone_fraction() -> None:
    pytest.importorskip("faiss")
    gallery = unit_vectors(np.random.default_rng(23), 100)
    index = HnswIndex(rebuild_fraction=0.25)
    index.add(ids_for(100), gallery)
    index.remove(ids_for(25))
    assert index.tombstones == 25  # at the fraction, not past it
    index.add(["m30"], gallery[30:31])  # a replacement tombstones the old node too
    assert index.tombstones == 0
    assert len(index) == 75
    assert index.search(gallery[30])[0].id == "m30"


def test_hnsw_without_faiss_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    with pytest.raises(DependencyError, match="pip install"):
        HnswIndex()
    with pytest.raises(DependencyError):
        make_index("auto", expected_size=1_000_000)


def test_make_index_picks_by_kind_and_size() -> None:
    assert isinstance(make_index("exact", 10**7), ExactIndex)
    assert isinstance(make_index("auto", 200_000), ExactIndex)
    with pytest.raises(InputError):
        make_index("annoy", 10)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        make_index("exact", -1)


def test_make_index_goes_approximate_above_exact_max() -> None:
    pytest.importorskip("faiss")
    assert isinstance(make_index("auto", 11, exact_max=10), HnswIndex)
    assert isinstance(make_index("hnsw", 10), HnswIndex)


def test_importing_the_module_loads_no_faiss() -> None:
    code = "import sys, consentcam.match.index; print('faiss' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
