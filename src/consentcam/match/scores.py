"""Distances between embeddings, threshold decisions and exact 1:N search.

The model's native score is Euclidean distance (lower is more alike), the metric its model card
thresholds are measured in. Empty input gives empty output everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from consentcam.errors import InputError

FloatArray = npt.NDArray[np.float32]


def distances(gallery: npt.ArrayLike, probe: npt.ArrayLike) -> FloatArray:
    """Euclidean distance from ``probe`` (d,) to each row of ``gallery`` (n, d)."""
    g = _matrix(gallery, "gallery")
    p = np.asarray(probe, dtype=np.float32)
    if p.ndim != 1:
        raise InputError(f"probe must be one vector, got shape {p.shape}")
    if len(g) == 0:
        return np.zeros(0, np.float32)
    if g.shape[1] != p.shape[0]:
        raise InputError(f"dimension mismatch: gallery has {g.shape[1]}, probe has {p.shape[0]}")
    result: FloatArray = np.linalg.norm(g - p, axis=1).astype(np.float32)
    return result


def pairwise_distances(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """Euclidean distances (len(a), len(b)) via one matrix product (the 1:N hot path)."""
    x, y = _matrix(a, "a"), _matrix(b, "b")
    if len(x) == 0 or len(y) == 0:
        return np.zeros((len(x), len(y)), np.float32)
    sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * (x @ y.T)
    result: FloatArray = np.sqrt(np.maximum(sq, 0)).astype(np.float32)
    return result


def similarities(gallery: npt.ArrayLike, probe: npt.ArrayLike) -> FloatArray:
    """Cosine similarity of ``probe`` to each gallery row (higher is more alike)."""
    g = _matrix(gallery, "gallery")
    p = np.asarray(probe, dtype=np.float32)
    if len(g) == 0:
        return np.zeros(0, np.float32)
    norms = np.linalg.norm(g, axis=1) * np.linalg.norm(p)
    result: FloatArray = (g @ p / np.maximum(norms, 1e-12)).astype(np.float32)
    return result


def fused_template(vectors: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> FloatArray:
    """One vector for several views of a person: the (``weights``-weighted) mean of the views
    scaled to unit length, scaled to unit length again. A member is searched by this one vector
    rather than by each enrolment view: every extra vector per member is another chance for a
    stranger to come close, while the fused one sits nearer the person's other photos (measured
    on LFW in docs/model-card.md). Orthonormal tenant transforms commute with it."""
    m = _matrix(vectors, "vectors")
    if len(m) == 0:
        raise InputError("a fused template needs at least one vector")
    w = np.ones(len(m), np.float32) if weights is None else np.asarray(weights, np.float32)
    if w.shape != (len(m),) or not np.all(w > 0):
        raise InputError("fusion weights must be positive, one per vector")
    units = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    mean = (units * w[:, None]).sum(axis=0)
    result: FloatArray = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
    return result


def decide(distance: npt.ArrayLike, threshold: float) -> npt.NDArray[np.bool_]:
    """Same person where the distance is at or below ``threshold``."""
    return np.asarray(distance, dtype=np.float32) <= np.float32(threshold)


@dataclass(frozen=True, slots=True)
class Match:
    index: int  # row in the gallery
    distance: float


def search(gallery: npt.ArrayLike, probe: npt.ArrayLike, k: int = 1) -> list[Match]:
    """Exact nearest neighbours of ``probe`` in ``gallery``, closest first (at most ``k``)."""
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}")
    d = distances(gallery, probe)
    if len(d) == 0:
        return []
    k = min(k, len(d))
    top = np.argpartition(d, k - 1)[:k]
    top = top[np.argsort(d[top], kind="stable")]
    return [Match(int(i), float(d[i])) for i in top]


def _matrix(values: npt.ArrayLike, name: str) -> FloatArray:
    m = np.asarray(values, dtype=np.float32)
    if m.size == 0:
        return m.reshape(0, m.shape[-1] if m.ndim == 2 else 0)
    if m.ndim != 2:
        raise InputError(f"{name} must be a 2-d array of embeddings, got shape {m.shape}")
    return m
