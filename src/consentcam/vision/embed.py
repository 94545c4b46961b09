"""128-d face embeddings from dlib's ResNet, with two interchangeable backends.

``numpy`` runs the same weights through numpy's BLAS (much faster than the BLAS-less dlib-bin
wheel); ``dlib`` calls dlib's own forward pass. Both give the same vectors to float rounding.
"""

from __future__ import annotations

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


def chip_embeddings(
    chips: ImageArray, settings: EmbedSettings | None = None, embedder: Embedder | None = None
) -> FloatArray:
    """Embeddings of aligned chips; with ``settings.flip`` each is the mean of the chip's and its
    mirror image's embedding (test-time augmentation, measured in the model card)."""
    settings = settings or EmbedSettings()
    embed = embedder or EMBEDDERS[settings.type]
    if len(chips) == 0:
        return np.zeros((0, EMBEDDING_SIZE), np.float32)
    batches = [
        _batch_embeddings(chips[i : i + settings.batch_size], settings.flip, embed)
        for i in range(0, len(chips), settings.batch_size)
    ]
    return np.concatenate(batches).astype(np.float32, copy=False)


def _batch_embeddings(chips: ImageArray, flip: bool, embed: Embedder) -> FloatArray:
    if not flip:
        return embed(chips)
    both = embed(np.concatenate([chips, mirrored(chips)]))
    n = len(chips)
    return (both[:n] + both[n:]) / 2
