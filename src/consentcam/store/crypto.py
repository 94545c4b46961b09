"""Template protection (ISO/IEC 24745): confidentiality, integrity, renewability, unlinkability.

Two independent layers guard a stored template:

* **Encryption at rest.** ``seal`` encrypts a vector with AES-256-GCM under the deployment's
  template key, binding it to its row through associated data, so a database dump holds no
  plaintext embedding (privacy invariant 6) and a blob copied to another row does not open.
  ``rotate`` re-encrypts under a new key.
* **A per-tenant keyed orthonormal transform.** ``protect`` rotates embeddings with a secret
  random orthonormal matrix derived per tenant. Rotations preserve Euclidean distance, so the model
  card's thresholds still hold inside a tenant, while the same face enrolled by two tenants gives
  unrelated templates (unlinkability). ``rewrap`` moves protected templates to a new tenant secret
  without reconstructing the raw embedding (renewability).

Blob layout, version 1 (all of it authenticated; the header is also part of GCM's associated data)::

    version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext of float32 LE + tag (16)

Key bytes never appear in a message, an exception or a repr.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from consentcam.errors import ConfigError, InputError
from consentcam.model_card import model_card
from consentcam.store.models import MemberImage

FloatArray = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float64]

KEY_ENV = "CONSENTCAM_TEMPLATE_KEY"
KEY_FILE_ENV = "CONSENTCAM_TEMPLATE_KEY_FILE"
KEY_SIZE = 32
KEY_ID_SIZE = 4
NONCE_SIZE = 12
TAG_SIZE = 16
FORMAT_VERSION = 1
HEADER_SIZE = 1 + KEY_ID_SIZE + NONCE_SIZE
TRANSFORM_INFO = b"consentcam/tenant-transform/v1"
MIN_TRANSFORM_SECRET = 16

_KEY_ID_DOMAIN = b"consentcam/template-key-id/v1\x00"
_MAX_KEY_FILE_BYTES = 1024  # a key file holds ~45 characters; refuse to read anything large
GENERATE_KEY_COMMAND = (
    'python -c "import secrets,base64;'
    'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"'
)


@dataclass(frozen=True, slots=True, repr=False)
class TemplateKeys:
    """The AES-256 key that seals templates, and its public id.

    The id is a domain-separated SHA-256 prefix of the key: stored in every blob so a rotation job
    can tell which key sealed a row, and safe to print. The key itself never appears in a repr.
    """

    key: bytes
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, bytes) or len(self.key) != KEY_SIZE:
            size = len(self.key) if isinstance(self.key, bytes) else type(self.key).__name__
            raise ConfigError(f"a template key must be {KEY_SIZE} bytes, got {size}")
        digest = hashlib.sha256(_KEY_ID_DOMAIN + self.key).digest()
        object.__setattr__(self, "key_id", digest[:KEY_ID_SIZE].hex())

    def __repr__(self) -> str:
        return f"TemplateKeys(key_id={self.key_id!r})"

    @property
    def key_id_bytes(self) -> bytes:
        return bytes.fromhex(self.key_id)


def load_keys(env: Mapping[str, str], *, dev: bool, dev_key_path: Path | None) -> TemplateKeys:
    """The template key from ``CONSENTCAM_TEMPLATE_KEY`` (base64 of 32 bytes) or
    ``CONSENTCAM_TEMPLATE_KEY_FILE`` (a file holding that text).

    With neither set, and only when ``dev`` is true, a random key is generated once at
    ``dev_key_path`` (mode 0600) and reused afterwards. Everything else raises ConfigError: outside
    dev a missing key is refused rather than defaulted, because templates sealed under a throwaway
    key would be unreadable after a restart. An empty variable counts as unset.
    """
    text = env.get(KEY_ENV, "").strip()
    file_name = env.get(KEY_FILE_ENV, "").strip()
    if text and file_name:
        raise ConfigError(f"set only one of {KEY_ENV} and {KEY_FILE_ENV}, not both")
    if text:
        return TemplateKeys(_decode_key(text, KEY_ENV))
    if file_name:
        path = Path(file_name)
        return TemplateKeys(
            _decode_key(_read_key_file(path, KEY_FILE_ENV), f"{KEY_FILE_ENV} {path}")
        )
    if not dev:
        raise ConfigError(
            f"no template key: set {KEY_ENV} (or {KEY_FILE_ENV} to a file holding it) to a new "
            f"key generated with: {GENERATE_KEY_COMMAND}"
        )
    if dev_key_path is None:
        raise ConfigError(f"no template key: set {KEY_ENV}, or give dev mode a key path")
    return TemplateKeys(_dev_key(dev_key_path))


def seal(keys: TemplateKeys, vector: npt.ArrayLike, aad: bytes) -> bytes:
    """``vector`` (d,) encrypted and authenticated under ``keys``, bound to ``aad``.

    ``aad`` identifies the row the blob belongs to (tenant, template and model ids); the same bytes
    are needed to open it. Each call draws a fresh random 96-bit nonce, so sealing twice gives two
    different blobs; NIST SP 800-38D allows 2^32 seals per key with random nonces, so rotate the
    key well before that many.
    """
    plain = _vector_bytes(vector)
    _check_aad(aad)
    header = bytes([FORMAT_VERSION]) + keys.key_id_bytes + os.urandom(NONCE_SIZE)
    nonce = header[1 + KEY_ID_SIZE :]
    return header + AESGCM(keys.key).encrypt(nonce, plain, header[: 1 + KEY_ID_SIZE] + aad)


def open_sealed(keys: TemplateKeys, blob: bytes, aad: bytes) -> FloatArray:
    """The float32 vector in ``blob``; InputError if it is malformed, of an unknown version,
    sealed under another key or for another row (``aad``), or altered in any byte."""
    _check_aad(aad)
    blob = _blob(blob)
    key_id = sealed_key_id(blob)
    if key_id != keys.key_id:
        raise InputError(
            f"sealed template was sealed under key id {key_id}, not the loaded key {keys.key_id}"
        )
    nonce = blob[1 + KEY_ID_SIZE : HEADER_SIZE]
    try:
        plain = AESGCM(keys.key).decrypt(nonce, blob[HEADER_SIZE:], blob[: 1 + KEY_ID_SIZE] + aad)
    except InvalidTag:
        raise InputError(
            "sealed template failed authentication: wrong key, wrong row (associated data) "
            "or altered"
        ) from None
    if not plain or len(plain) % 4:
        raise InputError(f"sealed template holds {len(plain)} bytes, not float32 values")
    return np.frombuffer(plain, dtype="<f4").astype(np.float32)


def seal_bytes(keys: TemplateKeys, data: bytes, aad: bytes) -> bytes:
    """``data`` (a secret: a webhook's signing secret, a camera's stream URL with credentials)
    sealed like a template. Its bytes go in as small integers, which float32 holds exactly, so
    the blob format, key ids and rotation are the templates' own."""
    return seal(keys, np.frombuffer(data, dtype=np.uint8), aad)


def open_bytes(keys: TemplateKeys, blob: bytes, aad: bytes, what: str) -> bytes:
    """The bytes ``seal_bytes`` sealed. A secret that does not open stops what needs it (a
    delivery, a camera), for every row alike: ConfigError naming ``what`` and the likely cause,
    a key other than the one it was sealed with."""
    try:
        return open_sealed(keys, blob, aad).astype(np.uint8).tobytes()
    except InputError as exc:
        raise ConfigError(
            f"{what} does not open with the loaded key ({exc}); load the key this store was "
            "sealed with ('consentcam keys rotate' moves a store to a new key)"
        ) from None


def sealed_key_id(blob: bytes) -> str:
    """The id of the key that sealed ``blob``, read from its header without decrypting: lets a
    rotation job find the rows still under an old key."""
    return _blob(blob)[1 : 1 + KEY_ID_SIZE].hex()


def rotate(old_keys: TemplateKeys, new_keys: TemplateKeys, blob: bytes, aad: bytes) -> bytes:
    """``blob`` re-encrypted under ``new_keys`` (same row, fresh nonce).

    A blob already under the new key is checked and returned unchanged, so an interrupted rotation
    job can simply run again.
    """
    if sealed_key_id(blob) == new_keys.key_id != old_keys.key_id:
        open_sealed(new_keys, blob, aad)
        return bytes(blob)
    return seal(new_keys, open_sealed(old_keys, blob, aad), aad)


# Associated data: what each sealed blob is bound to. A blob copied to another row, or a row
# moved to another owner by someone who can write the database, fails authentication. The
# builders live beside the sealing so that every layer sealing or opening a blob (the ledger,
# the gallery, webhooks, key rotation) binds it the same way.


def template_model_id() -> str:
    """The model a template was made with, as stored on its row and bound into its seal."""
    card = model_card()
    return f"{card.model_id}@{card.version}"


def template_aad(tenant_id: str, template_id: str, member_id: str) -> bytes:
    """Binds a sealed template to its row and its member: a blob copied elsewhere, or a row
    moved to another member by someone who can write the database, will not open."""
    return f"{tenant_id}/{template_id}/{member_id}/{template_model_id()}".encode()


def unbound_template_aad(tenant_id: str, template_id: str) -> bytes:
    """The associated data of templates sealed before seals named their member (stores from
    before the security review's fixes): such a template opens only to be bound to its member by
    ``consentcam keys rotate``, never for recognition."""
    return f"{tenant_id}/{template_id}/{template_model_id()}".encode()


def camera_source_aad(tenant_id: str, camera_id: str) -> bytes:
    """Binds a sealed stream URL to its camera: a blob copied to another row will not open."""
    return f"camera-source/{tenant_id}/{camera_id}".encode()


def picture_aad(tenant_id: str, picture_id: str, member_id: str, kind: str, event: str) -> bytes:
    """Binds a sealed picture to its row, member, kind and event: moved elsewhere, it won't open."""
    return f"{tenant_id}/picture/{picture_id}/{member_id}/{kind}/{event}".encode()


def stored_picture_aad(row: MemberImage) -> bytes:
    return picture_aad(row.tenant_id, row.id, row.member_id, row.kind, row.event_id or "")


def secret_aad(tenant_id: str, webhook_id: str) -> bytes:
    """Binds a sealed secret to its webhook: a blob copied to another row will not open."""
    return f"webhook-secret/{tenant_id}/{webhook_id}".encode()


def tenant_transform(secret: bytes, tenant_id: str, dim: int = 128) -> Matrix:
    """A secret random orthonormal matrix (dim, dim) for one tenant.

    The seed comes from HKDF-SHA256 of ``secret`` with the tenant id in the info, so tenants
    sharing a secret still get unrelated matrices. The matrix is the Q of a seeded Gaussian
    matrix's QR decomposition with R's diagonal made positive, which makes it Haar-distributed
    (uniform over rotations and reflections); without the sign fix it would be biased.
    """
    if not isinstance(secret, bytes) or len(secret) < MIN_TRANSFORM_SECRET:
        raise InputError(f"a tenant transform secret must be at least {MIN_TRANSFORM_SECRET} bytes")
    if not isinstance(tenant_id, str) or not tenant_id:
        raise InputError("a tenant transform needs a non-empty tenant id")
    if not isinstance(dim, int) or dim < 1:
        raise InputError(f"transform dimension must be a positive integer, got {dim!r}")
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=TRANSFORM_INFO + tenant_id.encode("utf-8"),
    )
    seed = int.from_bytes(hkdf.derive(secret), "little")
    gaussian = np.random.Generator(np.random.PCG64(seed)).standard_normal((dim, dim))
    # One BLAS thread: a 128x128 QR gains nothing from more, is slowed badly by them on busy
    # cores, and a fixed summation order keeps the matrix identical on every worker.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        q, r = np.linalg.qr(gaussian)
    result: Matrix = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    return result


def protect(transform: Matrix, vectors: npt.ArrayLike) -> FloatArray:
    """``vectors`` (d,) or (n, d) rotated by a tenant transform (x @ Q.T), as float32."""
    q = _transform(transform, "transform")
    x = _vectors(vectors, q.shape[1])
    result: FloatArray = (x @ q.T).astype(np.float32)
    return result


def unprotect(transform: Matrix, vectors: npt.ArrayLike) -> FloatArray:
    """The inverse of ``protect`` (the transform is orthonormal: its inverse is its transpose)."""
    q = _transform(transform, "transform")
    x = _vectors(vectors, q.shape[0])
    result: FloatArray = (x @ q).astype(np.float32)
    return result


def rewrap(old: Matrix, new: Matrix, vectors: npt.ArrayLike) -> FloatArray:
    """Templates protected under ``old`` moved to ``new`` (renewal of a tenant secret).

    The two rotations are composed first (new @ old.T), so the raw embedding is never formed.
    """
    q_old, q_new = _transform(old, "old transform"), _transform(new, "new transform")
    if q_old.shape != q_new.shape:
        raise InputError(f"transforms differ in shape: {q_old.shape} and {q_new.shape}")
    x = _vectors(vectors, q_old.shape[0])
    result: FloatArray = (x @ (q_new @ q_old.T).T).astype(np.float32)
    return result


def _decode_key(text: str, source: str) -> bytes:
    # Standard and URL-safe alphabets, padding optional; the text itself is never echoed.
    normalized = text.strip().replace("-", "+").replace("_", "/")
    normalized += "=" * (-len(normalized) % 4)
    try:
        key = base64.b64decode(normalized.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ConfigError(
            f"{source} is not base64 text; generate a key with: {GENERATE_KEY_COMMAND}"
        ) from None
    if len(key) != KEY_SIZE:
        raise ConfigError(
            f"{source} decodes to {len(key)} bytes, a template key needs {KEY_SIZE}; "
            f"generate one with: {GENERATE_KEY_COMMAND}"
        )
    return key


def _read_key_file(path: Path, source: str) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read {path} ({exc.strerror or exc})") from None
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise ConfigError(f"{source}: {path} is too large to be a template key file")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: {path} is not base64 text") from None


def _dev_key(path: Path) -> bytes:
    source = f"development key file {path}"
    if path.exists():
        # Never regenerate over an existing key: templates sealed under it would be lost.
        return _decode_key(_read_key_file(path, source), source)
    text = base64.urlsafe_b64encode(secrets.token_bytes(KEY_SIZE)).decode("ascii") + "\n"
    # Written to a private temporary file, then hard-linked into place: linking fails if another
    # process created the key meanwhile, so concurrent first starts agree on one key and no reader
    # ever sees a half-written file.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # exact mode whatever the umask
            os.write(fd, text.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot create {source} ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return _decode_key(_read_key_file(path, source), source)


def _blob(blob: bytes) -> bytes:
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise InputError(f"a sealed template must be bytes, got {type(blob).__name__}")
    blob = bytes(blob)
    if len(blob) < HEADER_SIZE + TAG_SIZE + 4:
        raise InputError(f"sealed template is truncated ({len(blob)} bytes)")
    if blob[0] != FORMAT_VERSION:
        raise InputError(f"unknown sealed-template format version {blob[0]}")
    return blob


def _vector_bytes(vector: npt.ArrayLike) -> bytes:
    try:
        arr = np.asarray(vector)
    except ValueError:
        raise InputError("a template must be one numeric vector") from None
    if arr.dtype.kind not in "fiu":
        raise InputError(f"a template must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"a template must be one non-empty vector, got shape {arr.shape}")
    with np.errstate(over="ignore"):
        x = arr.astype("<f4")
    if not np.isfinite(x).all():
        raise InputError("a template must hold finite float32 values")
    return x.tobytes()


def _check_aad(aad: bytes) -> None:
    # Refusing empty associated data keeps every blob bound to a row: an unbound blob could be
    # swapped between rows unnoticed.
    if not isinstance(aad, bytes) or not aad:
        raise InputError("associated data must be non-empty bytes identifying the template's row")


def _transform(q: Matrix, name: str) -> Matrix:
    try:
        arr = np.asarray(q, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a numeric matrix") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise InputError(f"{name} must be a square matrix, got shape {arr.shape}")
    return arr


def _vectors(vectors: npt.ArrayLike, dim: int) -> Matrix:
    try:
        x = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("templates must be numeric arrays") from None
    if x.ndim not in (1, 2) or x.shape[-1] != dim:
        raise InputError(f"templates must have shape ({dim},) or (n, {dim}), got {x.shape}")
    if not np.isfinite(x).all():
        raise InputError("templates must hold finite values")
    return x
