from __future__ import annotations

import numpy as np
import pytest

from consentcam.errors import InputError
from consentcam.match.scores import (
    decide,
    distances,
    pairwise_distances,
    search,
    similarities,
)


def test_distances_are_euclidean() -> None:
    gallery = np.array([[0, 0], [3, 4], [1, 0]], np.float32)
    assert distances(gallery, [0, 0]).tolist() == [0.0, 5.0, 1.0]


def test_pairwise_matches_rowwise() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(7, 128)), rng.normal(size=(5, 128))
    full = pairwise_distances(a, b)
    for i in range(7):
        assert np.allclose(full[i], distances(b, a[i]), atol=1e-4)


def test_similarities_are_cosine() -> None:
    gallery = np.array([[1, 0], [0, 2], [-1, 0]], np.float32)
    assert np.allclose(similarities(gallery, [2, 0]), [1, 0, -1])


def test_decide_accepts_at_or_below_threshold() -> None:
    assert decide([0.3, 0.5, 0.50001, 0.9], 0.5).tolist() == [True, True, False, False]


def test_search_returns_top_k_closest_first() -> None:
    gallery = np.array([[5, 0], [1, 0], [3, 0], [2, 0]], np.float32)
    hits = search(gallery, [0, 0], k=3)
    assert [h.index for h in hits] == [1, 3, 2]
    assert [h.distance for h in hits] == [1.0, 2.0, 3.0]
    assert len(search(gallery, [0, 0], k=10)) == 4


def test_empty_gallery_gives_empty_results() -> None:
    empty = np.zeros((0, 128), np.float32)
    assert search(empty, np.zeros(128), k=5) == []
    assert distances(empty, np.zeros(128)).shape == (0,)
    assert similarities([], np.zeros(128)).shape == (0,)
    assert pairwise_distances(empty, np.zeros((3, 128))).shape == (0, 3)


def test_bad_shapes_raise_input_error() -> None:
    with pytest.raises(InputError, match="dimension mismatch"):
        distances(np.zeros((2, 128)), np.zeros(64))
    with pytest.raises(InputError, match="one vector"):
        distances(np.zeros((2, 128)), np.zeros((2, 128)))
    with pytest.raises(InputError, match="k must be"):
        search(np.zeros((2, 128)), np.zeros(128), k=0)
