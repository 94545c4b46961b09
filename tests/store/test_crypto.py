"""Template protection (ISO/IEC 24745): sealing, keys, the tenant transform, and unlinkability
measured on real LFW faces."""

from __future__ import annotations

import base64
import math
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from consentcam.errors import ConfigError, InputError
from consentcam.model_card import model_card
from consentcam.store.crypto import (
    GENERATE_KEY_COMMAND,
    HEADER_SIZE,
    KEY_ENV,
    KEY_FILE_ENV,
    TAG_SIZE,
    TemplateKeys,
    load_keys,
    open_sealed,
    protect,
    rewrap,
    rotate,
    seal,
    sealed_key_id,
    tenant_transform,
)

LFW = Path(__file__).resolve().parents[3] / "shared" / "data" / "lfw" / "lfw-deepfunneled"
AAD = b"tenant-1/template-42/dlib-resnet-v1"
KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))


def _b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def _vector(seed: int = 0, dim: int = 128) -> npt.NDArray[np.float32]:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def keys() -> TemplateKeys:
    return TemplateKeys(KEY_A)


@pytest.fixture
def blob(keys: TemplateKeys) -> bytes:
    return seal(keys, _vector(), AAD)


def _secret_free(message: str, key: bytes = KEY_A) -> bool:
    return all(
        s not in message
        for s in (key.hex(), _b64(key), base64.b64encode(key).decode(), repr(key), _b64(key)[:12])
    )


# --- sealing -------------------------------------------------------------------------------------


def test_seal_open_round_trip(keys: TemplateKeys) -> None:
    v = _vector()
    out = open_sealed(keys, seal(keys, v, AAD), AAD)
    assert out.dtype == np.float32 and out.flags.writeable
    np.testing.assert_array_equal(out, v)
    wide = np.linspace(-1, 1, 128)  # float64 in, float32 out
    np.testing.assert_array_equal(open_sealed(keys, seal(keys, wide, AAD), AAD), wide.astype("f4"))


def test_blob_layout(keys: TemplateKeys, blob: bytes) -> None:
    assert blob[0] == 1
    assert blob[1:5].hex() == keys.key_id == sealed_key_id(blob)
    assert len(blob) == HEADER_SIZE + 128 * 4 + TAG_SIZE


def test_two_seals_of_the_same_vector_differ(keys: TemplateKeys) -> None:
    v = _vector()
    a, b = seal(keys, v, AAD), seal(keys, v, AAD)
    assert a != b and a[5:17] != b[5:17]  # fresh nonce each time


def test_blob_holds_no_plaintext_vector(keys: TemplateKeys) -> None:
    # Privacy invariant 6: a dump of the column must not contain the embedding in any common
    # encoding, not even two consecutive values of it.
    v = _vector(3)
    blob = seal(keys, v, AAD)
    for encoding in (v.astype("<f4"), v.astype(">f4"), v.astype("<f8")):
        raw = encoding.tobytes()
        assert raw not in blob
        step = encoding.itemsize
        for i in range(0, len(raw) - 2 * step + 1, step):
            assert raw[i : i + 2 * step] not in blob, i


def test_wrong_key_raises(blob: bytes) -> None:
    with pytest.raises(InputError, match="key id") as exc:
        open_sealed(TemplateKeys(KEY_B), blob, AAD)
    assert _secret_free(str(exc.value)) and _secret_free(str(exc.value), KEY_B)


def test_wrong_key_with_forged_key_id_fails_authentication(blob: bytes) -> None:
    other = TemplateKeys(KEY_B)
    forged = blob[:1] + other.key_id_bytes + blob[5:]
    with pytest.raises(InputError, match="authentication"):
        open_sealed(other, forged, AAD)


def test_wrong_row_raises(keys: TemplateKeys, blob: bytes) -> None:
    # A blob copied to another row (other tenant, template or model id) does not open.
    for aad in (b"tenant-2/template-42/dlib-resnet-v1", b"tenant-1/template-43/dlib-resnet-v1"):
        with pytest.raises(InputError, match="authentication"):
            open_sealed(keys, blob, aad)


def test_every_altered_byte_is_detected(keys: TemplateKeys, blob: bytes) -> None:
    for i in range(len(blob)):
        altered = bytearray(blob)
        altered[i] ^= 0x01
        with pytest.raises(InputError):
            open_sealed(keys, bytes(altered), AAD)


def test_every_truncation_is_detected(keys: TemplateKeys, blob: bytes) -> None:
    for n in range(len(blob)):
        with pytest.raises(InputError):
            open_sealed(keys, blob[:n], AAD)
    with pytest.raises(InputError):
        open_sealed(keys, blob + b"\x00", AAD)


def test_unknown_version_raises(keys: TemplateKeys, blob: bytes) -> None:
    for version in (0, 2, 255):
        with pytest.raises(InputError, match=f"version {version}"):
            open_sealed(keys, bytes([version]) + blob[1:], AAD)


@pytest.mark.parametrize(
    "vector",
    [
        np.zeros((2, 64), np.float32),
        np.zeros(0, np.float32),
        np.array([0.1, np.nan]),
        np.array([0.1, np.inf]),
        np.array([0.1, 1e39]),  # finite in float64, infinite in float32
        np.array(["a", "b"]),
        np.array([True, False]),
        np.array([1 + 2j]),
        np.array([0.5, None], dtype=object),
    ],
    ids=["2d", "empty", "nan", "inf", "f32-overflow", "str", "bool", "complex", "object"],
)
def test_seal_refuses_bad_vectors(keys: TemplateKeys, vector: np.ndarray) -> None:
    with pytest.raises(InputError):
        seal(keys, vector, AAD)


def test_associated_data_is_required(keys: TemplateKeys, blob: bytes) -> None:
    with pytest.raises(InputError, match="associated data"):
        seal(keys, _vector(), b"")
    with pytest.raises(InputError, match="associated data"):
        open_sealed(keys, blob, b"")


def test_rotate_reencrypts_under_the_new_key(keys: TemplateKeys, blob: bytes) -> None:
    new = TemplateKeys(KEY_B)
    rotated = rotate(keys, new, blob, AAD)
    assert sealed_key_id(rotated) == new.key_id
    np.testing.assert_array_equal(open_sealed(new, rotated, AAD), _vector())
    with pytest.raises(InputError):
        open_sealed(keys, rotated, AAD)
    # Running the job again leaves rotated rows alone, after checking them.
    assert rotate(keys, new, rotated, AAD) == rotated
    with pytest.raises(InputError):
        rotate(keys, new, rotated, b"another row")
    with pytest.raises(InputError):
        rotate(keys, new, blob, b"another row")


# --- keys ----------------------------------------------------------------------------------------


def test_key_from_environment() -> None:
    for text in (_b64(KEY_A), base64.b64encode(KEY_A).decode(), _b64(KEY_A).rstrip("=") + "\n"):
        keys = load_keys({KEY_ENV: text}, dev=False, dev_key_path=None)
        assert keys.key == KEY_A


def test_key_from_file(tmp_path: Path) -> None:
    path = tmp_path / "template.key"
    path.write_text(_b64(KEY_A) + "\n")
    assert load_keys({KEY_FILE_ENV: str(path)}, dev=False, dev_key_path=None).key == KEY_A


def test_key_id_is_public_and_stable() -> None:
    keys = TemplateKeys(KEY_A)
    assert len(keys.key_id) == 8 and int(keys.key_id, 16) >= 0
    assert keys.key_id not in KEY_A.hex()
    assert keys.key_id == TemplateKeys(KEY_A).key_id != TemplateKeys(KEY_B).key_id


def test_repr_hides_the_key() -> None:
    keys = TemplateKeys(KEY_A)
    for text in (repr(keys), str(keys), f"{keys}", repr([keys])):
        assert _secret_free(text) and keys.key_id in text


def test_dev_key_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "dev-template.key"
    first = load_keys({}, dev=True, dev_key_path=path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert base64.urlsafe_b64decode(path.read_text().strip()) == first.key
    assert load_keys({}, dev=True, dev_key_path=path) == first
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind
    # An explicit key wins over the dev file, in dev too.
    assert load_keys({KEY_ENV: _b64(KEY_B)}, dev=True, dev_key_path=path).key == KEY_B


def test_outside_dev_a_missing_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dev-template.key"
    with pytest.raises(ConfigError) as exc:
        load_keys({}, dev=False, dev_key_path=path)
    message = str(exc.value)
    assert KEY_ENV in message and GENERATE_KEY_COMMAND in message and "\n" not in message
    assert not path.exists()
    # A dev key lying around is not a production key either.
    load_keys({}, dev=True, dev_key_path=path)
    with pytest.raises(ConfigError, match=KEY_ENV):
        load_keys({}, dev=False, dev_key_path=path)
    with pytest.raises(ConfigError, match=KEY_ENV):
        load_keys({KEY_ENV: "  "}, dev=False, dev_key_path=None)
    with pytest.raises(ConfigError):
        load_keys({}, dev=True, dev_key_path=None)


def test_the_suggested_command_makes_a_valid_key() -> None:
    code = GENERATE_KEY_COMMAND.removeprefix('python -c "').removesuffix('"')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert len(load_keys({KEY_ENV: out.stdout}, dev=False, dev_key_path=None).key) == 32


@pytest.mark.parametrize(
    "text",
    [
        _b64(KEY_A[:16]),
        _b64(KEY_A + b"\x00"),
        "not base64 at all!",
        _b64(KEY_A)[:-3] + "*==",
        "é" * 44,
        "",
    ],
    ids=["short", "long", "garbage", "bad-char", "non-ascii", "empty-file"],
)
def test_malformed_keys_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "template.key"
    path.write_text(text, encoding="utf-8")
    envs = [{KEY_FILE_ENV: str(path)}] + ([{KEY_ENV: text}] if text else [])
    for env in envs:
        with pytest.raises(ConfigError) as exc:
            load_keys(env, dev=True, dev_key_path=tmp_path / "dev.key")
        assert (not text or text not in str(exc.value)) and _secret_free(str(exc.value))
    assert not (tmp_path / "dev.key").exists()


def test_unreadable_key_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.key"
    big.write_text(_b64(KEY_A) * 100)
    for path in (tmp_path / "missing.key", tmp_path, big):
        with pytest.raises(ConfigError, match=KEY_FILE_ENV):
            load_keys({KEY_FILE_ENV: str(path)}, dev=False, dev_key_path=None)
    with pytest.raises(ConfigError, match="only one"):
        load_keys({KEY_ENV: _b64(KEY_A), KEY_FILE_ENV: str(big)}, dev=False, dev_key_path=None)


def test_malformed_dev_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "dev.key"
    path.write_text("broken")
    with pytest.raises(ConfigError):
        load_keys({}, dev=True, dev_key_path=path)
    assert path.read_text() == "broken"


# --- tenant transform ----------------------------------------------------------------------------

SECRET = b"tenant-transform-secret-0001"
NEW_SECRET = b"tenant-transform-secret-0002"


def test_transform_is_orthonormal_and_deterministic() -> None:
    q = tenant_transform(SECRET, "shop-a")
    assert q.shape == (128, 128)
    np.testing.assert_allclose(q @ q.T, np.eye(128), atol=1e-5)
    np.testing.assert_array_equal(q, tenant_transform(SECRET, "shop-a"))
    assert tenant_transform(SECRET, "shop-a", dim=16).shape == (16, 16)


def test_transform_differs_across_tenants_and_secrets() -> None:
    q = tenant_transform(SECRET, "shop-a")
    for other in (tenant_transform(SECRET, "shop-b"), tenant_transform(NEW_SECRET, "shop-a")):
        assert np.abs(q - other).max() > 0.1
        # Unrelated rotations: q @ other.T looks like a random rotation, not near the identity.
        assert abs(np.trace(q @ other.T)) < 5


def test_protect_preserves_distances_within_a_tenant() -> None:
    q = tenant_transform(SECRET, "shop-a")
    x = np.stack([_vector(i) for i in range(20)])
    p = protect(q, x)
    assert p.dtype == np.float32 and p.shape == x.shape
    raw = np.linalg.norm(x[:, None] - x[None], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(p[:, None] - p[None], axis=-1), raw, atol=1e-5)
    np.testing.assert_allclose(protect(q, x[0]), p[0], atol=1e-6)
    assert protect(q, np.zeros((0, 128))).shape == (0, 128)


def test_rewrap_equals_protecting_under_the_new_secret() -> None:
    old, new = tenant_transform(SECRET, "shop-a"), tenant_transform(NEW_SECRET, "shop-a")
    x = np.stack([_vector(i) for i in range(20)])
    np.testing.assert_allclose(rewrap(old, new, protect(old, x)), protect(new, x), atol=1e-5)


def test_transform_refuses_bad_input() -> None:
    q = tenant_transform(SECRET, "shop-a")
    with pytest.raises(InputError):
        tenant_transform(b"short", "shop-a")
    with pytest.raises(InputError):
        tenant_transform(SECRET, "")
    with pytest.raises(InputError):
        protect(q, np.zeros(64))
    with pytest.raises(InputError):
        protect(q[:, :64], np.zeros(64))
    with pytest.raises(InputError):
        protect(q, np.full(128, np.nan))
    with pytest.raises(InputError):
        rewrap(q, tenant_transform(SECRET, "shop-a", dim=64), np.zeros(128))


# --- unlinkability on real faces -----------------------------------------------------------------

PEOPLE = 30


@pytest.fixture(scope="module")
def lfw_embeddings() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int_]]:
    """Embeddings of the first two images of the first 30 LFW people (sorted) who have two."""
    from consentcam.vision.faces import file_faces

    assert LFW.is_dir(), f"expected LFW at {LFW}"
    vectors: list[npt.NDArray[np.float32]] = []
    labels: list[int] = []
    for person in sorted(p for p in LFW.iterdir() if p.is_dir()):
        images = sorted(person.glob("*.jpg"))
        if len(images) < 2:
            continue
        for image in images[:2]:
            vectors.append(file_faces(image)[0].vector)
            labels.append(len(labels) // 2)
        if len(labels) == 2 * PEOPLE:
            break
    return np.stack(vectors), np.array(labels)


def _distances(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    result: npt.NDArray[np.float64] = np.linalg.norm(x[:, None] - y[None], axis=-1)
    return result


def ks_statistic(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    x, y = np.sort(np.asarray(a, np.float64)), np.sort(np.asarray(b, np.float64))
    grid = np.concatenate([x, y])
    gap = np.searchsorted(x, grid, side="right") / len(x) - np.searchsorted(y, grid, "right") / len(
        y
    )
    return float(np.abs(gap).max())


def ks_critical(n: int, m: int, alpha: float) -> float:
    """Asymptotic critical value: reject "same distribution" when the statistic exceeds it."""
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


def test_ks_statistic_matches_known_values() -> None:
    assert ks_statistic([1, 2, 3], [1, 2, 3]) == 0
    assert ks_statistic([1, 2], [3, 4]) == 1
    assert ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5
    assert ks_critical(60, 3480, 0.01) == pytest.approx(
        1.6276 * math.sqrt(3540 / (60 * 3480)), 1e-4
    )


@pytest.mark.slow
def test_protected_templates_still_recognise_within_a_tenant(
    lfw_embeddings: tuple[npt.NDArray[np.float32], npt.NDArray[np.int_]],
) -> None:
    x, labels = lfw_embeddings
    threshold = model_card().verification_threshold
    p = protect(tenant_transform(SECRET, "shop-a"), x)
    raw, protected = _distances(x, x), _distances(p, p)
    np.testing.assert_allclose(protected, raw, atol=1e-5)
    upper = np.triu(np.ones_like(raw, dtype=bool), 1)
    same = labels[:, None] == labels[None]
    genuine, impostor = protected[upper & same], protected[upper & ~same]
    assert len(genuine) == PEOPLE and len(impostor) == PEOPLE * (2 * PEOPLE - 2)
    assert genuine.mean() < impostor.mean() - 0.2
    # Every decision at the model card's threshold is the one the raw embeddings give.
    np.testing.assert_array_equal(protected <= threshold, raw <= threshold)


@pytest.mark.slow
def test_the_same_face_is_unlinkable_across_tenants(
    lfw_embeddings: tuple[npt.NDArray[np.float32], npt.NDArray[np.int_]],
) -> None:
    # The attacker's view (Gomez-Barrero et al., IEEE TIFS 2018; ISO/IEC 30136): comparing
    # tenant A's templates with tenant B's, mated pairs (same image, both tenants) must score like
    # non-mated pairs (different people, both tenants). Comparing with *within*-tenant impostors
    # would be the wrong yardstick: dlib embeddings fill a narrow cone, so within-tenant impostors
    # sit near 0.55 while any cross-tenant pair sits near 1.5.
    x, labels = lfw_embeddings
    threshold = model_card().verification_threshold
    a = protect(tenant_transform(SECRET, "shop-a"), x)
    b = protect(tenant_transform(SECRET, "shop-b"), x)
    cross = _distances(a, b)
    mated = np.diag(cross)
    non_mated = cross[labels[:, None] != labels[None]]
    assert abs(mated.mean() - non_mated.mean()) < 0.03
    d, critical = ks_statistic(mated, non_mated), ks_critical(len(mated), len(non_mated), 0.01)
    assert d < critical, (d, critical)
    # Nothing across tenants comes anywhere near a match, nor near any within-tenant impostor.
    within = _distances(a, a)[labels[:, None] != labels[None]]
    assert mated.min() > 3 * threshold and mated.min() > within.max()
    # Linking by nearest neighbour does no better than chance (2 of 60 are the same person).
    nearest = cross.argmin(axis=1)
    assert (labels[nearest] == labels).mean() <= 0.1


@pytest.mark.slow
def test_renewal_leaves_old_and_new_templates_unlinkable(
    lfw_embeddings: tuple[npt.NDArray[np.float32], npt.NDArray[np.int_]],
) -> None:
    x, _ = lfw_embeddings
    old, new = tenant_transform(SECRET, "shop-a"), tenant_transform(NEW_SECRET, "shop-a")
    renewed = rewrap(old, new, protect(old, x))
    np.testing.assert_allclose(renewed, protect(new, x), atol=1e-5)
    leaked = protect(old, x)  # templates stolen before the renewal no longer match
    assert np.diag(_distances(leaked, renewed)).min() > 2 * model_card().verification_threshold
