"""128-d face embeddings from dlib's ResNet, with two interchangeable backends.

``numpy`` runs the same weights through numpy's BLAS (much faster than the BLAS-less dlib-bin
wheel); ``dlib`` calls dlib's own forward pass. Both give the same vectors to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import Protocol

import numpy as np

from consentcam.config import EmbedSettings
from consentcam.vision import models
from consentcam.vision.align import mirrored
from consentcam.vision.records import FloatArray, ImageArray

EMBEDDING_SIZE = 128


class Embedder(Protocol):
    def __call__(self, chips: ImageArray) -> FloatArray:
        """Embeddings (N, 128) float32 for chips (N, 150, 150, 3) uint8."""
        ...


def dlib_embeddings(chips: ImageArray) -> FloatArray:
    if len(chips) == 0:
        return np.zeros((0, EMBEDDING_SIZE), np.float32)
    net = models.dlib_resnet()
    vectors = net.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
    return np.asarray(vectors, dtype=np.float32).reshape(len(chips), EMBEDDING_SIZE)


def numpy_embeddings(chips: ImageArray) -> FloatArray:
    from consentcam.vision.resnet import embed_chips

    return embed_chips(_resnet_weights(), chips)


@cache
def _resnet_weights():  # type: ignore[no-untyped-def]
    from consentcam.vision.resnet import load_resnet

    return load_resnet(models.model_path(models.RESNET_FILE))


EMBEDDERS: dict[str, Embedder] = {"numpy": numpy_embeddings, "dlib": dlib_embeddings}
# What each embedder loads on first use, for callers that load up front (a camera worker loads
# before it opens its stream).
EMBEDDER_MODELS: dict[str, Callable[[], object]] = {
    "numpy": _resnet_weights,
    "dlib": models.dlib_resnet,
}


def chip_embeddings(
    chips: ImageArray, settings: EmbedSettings | None = None, embedder: Embedder | None = None
) -> FloatArray:
    """Embeddings of aligned chips (N, 150, 150, 3), one view per face."""
    return fused_embeddings(chips[:, None], settings, embedder)


def fused_embeddings(
    views: ImageArray, settings: EmbedSettings | None = None, embedder: Embedder | None = None
) -> FloatArray:
    """One embedding per face from its chip views (N, V, 150, 150, 3).

    With ``settings.flip`` each view's mirror image is embedded too; with ``settings.normalize``
    every embedding is scaled to unit length before the mean and the mean is scaled again, so
    each view counts equally (measured better on LFW than averaging raw vectors).
    """
    settings = settings or EmbedSettings()
    embed = embedder or EMBEDDERS[settings.type]
    n, v = views.shape[:2]
    if n == 0:
        return np.zeros((0, EMBEDDING_SIZE), np.float32)
    flat = views.reshape(n * v, *views.shape[2:])
    if settings.flip:
        flat = np.concatenate([flat, mirrored(flat)])
    with _blas_threads(settings.blas_threads if embed is numpy_embeddings else 0):
        raw = np.concatenate(
            [
                embed(flat[i : i + settings.batch_size])
                for i in range(0, len(flat), settings.batch_size)
            ]
        )
    raw = raw.reshape(-1, n, v, EMBEDDING_SIZE)  # (copies, faces, views, dims)
    if settings.normalize:
        raw = unit_vectors(raw)
    fused = raw.mean(axis=(0, 2))
    return (unit_vectors(fused) if settings.normalize else fused).astype(np.float32)


def unit_vectors(x: FloatArray) -> FloatArray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    result: FloatArray = x / np.maximum(norms, 1e-12)
    return result


def _blas_threads(threads: int) -> AbstractContextManager[object]:
    if threads <= 0:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    limits: AbstractContextManager[object] = threadpool_limits(threads, user_api="blas")
    return limits
