"""The bad-input corpus, generated at test time: broken and hostile images, videos, CSV files and
strings; and a snapshot of everything a store holds, to prove a refusal changed nothing.

Nothing here is committed as data: every file is written into a temporary folder from the
public-domain photos or from a few bytes, so the repository stays small.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from PIL import Image

from consentcam.config import Settings
from consentcam.store.db import Store

# --- strings -----------------------------------------------------------------------------------

SQL_INJECTION = ("'; DROP TABLE members; --", '" OR 1=1 --', "x'); DELETE FROM consents; --")
PATH_TRAVERSAL = ("../../etc/passwd", "..\\..\\x", "/etc/passwd", "C:\\Windows\\win.ini")
# Text that is legal in a name: printable, short. Must be stored verbatim, and harm nothing.
LEGAL_HOSTILE = (*SQL_INJECTION, *PATH_TRAVERSAL, "O'Brien; DROP", "名前 🙂")
# Legal free text, but no name: it would display reversed (issue 13, item 9).
DIRECTION_OVERRIDE = "\u202eevil\u202c"
NUL = "a\x00b"
LONE_SURROGATE = "x\ud800y"  # what invalid UTF-8 becomes in argv (surrogateescape) or JSON
NEWLINE = "two\nlines"
TOO_LONG = "n" * 10_000
# Text no store can hold as a name: control characters, NUL, unpaired surrogates, 10k chars.
ILLEGAL = (NUL, LONE_SURROGATE, NEWLINE, TOO_LONG)
# What a name may not be.
NAME_ILLEGAL = (*ILLEGAL, DIRECTION_OVERRIDE)
HOSTILE = (*LEGAL_HOSTILE, DIRECTION_OVERRIDE, *ILLEGAL)


def label(value: str) -> str:
    """A short printable id for a corpus string (pytest ids, failure messages)."""
    return ascii(value if len(value) <= 30 else value[:20] + f"...({len(value)})")


# --- images ------------------------------------------------------------------------------------


def encoded(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A complete, valid PNG of ``width`` x ``height`` pixels of one flat colour (1-bit palette):
    about a megabyte on disk, 2.5 gigapixels once decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 3, 0, 0, 0)  # 1 bit per pixel, palette
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte, then palette index 0 everywhere
    rows_per_block = max(1, (1 << 20) // len(row))
    compressor = zlib.compressobj(1)
    parts = []
    for start in range(0, height, rows_per_block):
        parts.append(compressor.compress(row * min(rows_per_block, height - start)))
    parts.append(compressor.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"PLTE", bytes([200, 30, 30]))
        + png_chunk(b"IDAT", b"".join(parts))
        + png_chunk(b"IEND", b"")
    )


def jpeg_bomb(small_jpeg: bytes, width: int = 60_000, height: int = 60_000) -> bytes:
    """A small real JPEG whose start-of-frame header claims ``width`` x ``height``."""
    data = bytearray(small_jpeg)
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0:
            # SOF: marker, length (2), precision (1), height (2), width (2)
            struct.pack_into(">HH", data, at + 5, height, width)
            return bytes(data)
    raise AssertionError("no SOF marker in the JPEG")


def webp_bomb(width: int = 16_000, height: int = 16_000) -> bytes:
    """A lossless WebP whose VP8L header claims ``width`` x ``height`` (at most 16384 each)."""
    data = bytearray(encoded(Image.new("RGB", (16, 16), (10, 200, 90)), "WEBP", lossless=True))
    at = data.find(b"VP8L")
    assert at >= 0, "expected a lossless (VP8L) WebP"
    # chunk header (8), signature byte 0x2f, then 14 bits width-1, 14 bits height-1, ...
    bits = struct.unpack_from("<I", data, at + 9)[0]
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    struct.pack_into("<I", data, at + 9, bits)
    return bytes(data)


def corrupt_middle(data: bytes, length: int = 512, seed: int = 7) -> bytes:
    """``data`` with ``length`` random bytes written over its middle."""
    junk = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    mid = len(data) // 2
    return data[:mid] + junk + data[mid + length :]


@dataclass(frozen=True)
class ImageCorpus:
    """Images that must be refused (``bad``); damaged ones a decoder may conceal (``damaged``:
    an image or a refusal, nothing else); and ones whose name lies about a content that decodes
    (``mislabelled``: the content decides, not the name)."""

    bad: dict[str, Path]
    damaged: dict[str, Path]
    mislabelled: dict[str, Path]
    reference: Path  # the real image the broken ones were cut from


def write_image_corpus(folder: Path, photo: Path) -> ImageCorpus:
    folder.mkdir(parents=True, exist_ok=True)
    source = Image.open(photo)
    source.load()
    real = {fmt: encoded(source.convert("RGB"), fmt) for fmt in ("JPEG", "PNG", "WEBP")}
    small_jpeg = encoded(Image.new("RGB", (32, 24), (200, 120, 40)), "JPEG")
    contents: dict[str, bytes] = {
        "zero-byte.jpg": b"",
        "zero-byte.png": b"",
        "one-byte.webp": b"R",
        "text-named.jpg": b"this is a shopping list, not a photo\n" * 20,
        "html-named.png": b"<html><body><img src=x onerror=alert(1)></body></html>",
        "gif-named.jpg": encoded(Image.new("RGB", (8, 8)), "GIF"),
        "only-magic.png": b"\x89PNG\r\n\x1a\n",
        "only-magic.jpg": b"\xff\xd8\xff\xe0",
        "png-bomb-50000x50000.png": png_bomb(),
        "jpeg-bomb-60000x60000.jpg": jpeg_bomb(small_jpeg),
        "webp-bomb-16000x16000.webp": webp_bomb(),
    }
    for fmt, data in real.items():
        ext = fmt.lower()
        contents[f"truncated-half.{ext}"] = data[: len(data) // 2]
        contents[f"truncated-header.{ext}"] = data[:40]
    # JPEG decoders conceal damaged entropy-coded data; overwriting the frame header cannot be.
    contents["corrupt-header.jpg"] = real["JPEG"][:2] + b"\x00" * 200 + real["JPEG"][202:]
    damaged = {f"corrupt-middle.{fmt.lower()}": corrupt_middle(data) for fmt, data in real.items()}
    mislabelled = {"png-bytes-named.jpg": real["PNG"], "jpeg-bytes-named.webp": real["JPEG"]}
    reference = folder / "reference.png"
    reference.write_bytes(real["PNG"])
    return ImageCorpus(
        _write(folder, contents), _write(folder, damaged), _write(folder, mislabelled), reference
    )


def _write(folder: Path, contents: dict[str, bytes]) -> dict[str, Path]:
    paths = {}
    for name, data in contents.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


# --- videos ------------------------------------------------------------------------------------


def write_clip(
    path: Path, frames: int = 24, size: tuple[int, int] = (160, 120), fourcc: str = "mp4v"
) -> Path:
    """A short video of moving noise (no faces): enough for a count camera to read."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), 12.0, size)
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} here"
    rng = np.random.default_rng(3)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()
    return path


@dataclass(frozen=True)
class VideoCorpus:
    """Video files a camera may be pointed at. ``unreadable``: must be refused when opened;
    ``damaged``: may open, then must end cleanly (frames or a SourceError, nothing else)."""

    unreadable: dict[str, Path]
    damaged: dict[str, Path]
    reference: Path


def write_video_corpus(folder: Path, image: Path) -> VideoCorpus:
    folder.mkdir(parents=True, exist_ok=True)
    clip = write_clip(folder / "reference.mp4")
    data = clip.read_bytes()
    # MJPEG in AVI reads without its index: cut in half, it opens and ends mid-stream.
    avi = write_clip(folder / "reference.avi", fourcc="MJPG").read_bytes()
    rng = np.random.default_rng(11)
    unreadable = {
        "zero-byte.mp4": b"",
        "garbage.mp4": rng.integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes(),
        "text-named.mp4": b"not a video at all\n" * 100,
        "only-ftyp.mp4": data[:32],
        "zeros.avi": b"\0" * 4096,
    }
    damaged = {
        "truncated-half.mp4": data[: len(data) // 2],
        "truncated-tail.mp4": data[: len(data) - 200],
        "corrupt-middle.mp4": corrupt_middle(data, 4096),
        "truncated-half.avi": avi[: len(avi) // 2],
        "truncated-mid-frame.avi": avi[: len(avi) // 2 + 333],
        "corrupt-middle.avi": corrupt_middle(avi, 4096),
        "jpeg-named.mp4": image.read_bytes(),
    }
    return VideoCorpus(_write(folder, unreadable), _write(folder, damaged), clip)


# --- CSV ---------------------------------------------------------------------------------------

CSV_HEADER = b"member_id,time,items,amount,currency\n"


def bad_csv_files(folder: Path, member_id: str) -> dict[str, Path]:
    """Purchase exports that must be refused as a whole."""
    good = f"{member_id},2024-05-01T10:00:00Z,tea;cake,3.50,EUR\n".encode()
    contents = {
        "zero-byte.csv": b"",
        "invalid-utf8-in-row.csv": CSV_HEADER
        + good
        + f"{member_id},2024-05-01T10:00:00Z,".encode()
        + b"caf\xe9,1.00,EUR\n",
        "invalid-utf8-after-bom.csv": b"\xef\xbb\xbf" + CSV_HEADER + b"\xff\xfe\xfa\n",
        "utf16.csv": (CSV_HEADER + good).decode().encode("utf-16"),
        "nul-in-member-id.csv": CSV_HEADER + good.replace(member_id.encode(), b"m\x00x"),
        "lone-surrogate-cesu.csv": CSV_HEADER + good.replace(b"tea", b"\xed\xa0\x80"),
        "sql-member.csv": CSV_HEADER + b"'; DROP TABLE members; --,2024-05-01T10:00:00Z,x,1,EUR\n",
        "traversal-member.csv": CSV_HEADER + b"../../etc/passwd,2024-05-01T10:00:00Z,x,1,EUR\n",
        "unterminated-quote.csv": CSV_HEADER + good + b'"' + member_id.encode() + b",x\n",
        "binary.csv": bytes(range(256)) * 8,
        "huge-amount.csv": CSV_HEADER + good.replace(b"3.50", b"9" * 5000),
        "good-then-bad.csv": CSV_HEADER + good * 50 + b"nobody,2024-05-01T10:00:00Z,x,1,EUR\n",
    }
    return _write(folder, contents)


# --- snapshots ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What a store holds: a hash of each table's rows (ordered by primary key), and the data
    directory's files (name -> SHA-256) except the SQLite database and its journal."""

    tables: dict[str, str]
    files: dict[str, str]

    def diff(self, other: Snapshot) -> list[str]:
        changed = [
            f"table {name}"
            for name in sorted(set(self.tables) | set(other.tables))
            if self.tables.get(name) != other.tables.get(name)
        ]
        changed += [
            f"file {name}"
            for name in sorted(set(self.files) | set(other.files))
            if self.files.get(name) != other.files.get(name)
        ]
        return changed


def _table_hash(conn: sa.Connection, table: sa.Table) -> str:
    order = list(table.primary_key.columns) or list(table.columns)
    digest = hashlib.sha256()
    for row in conn.execute(sa.select(table).order_by(*order)):
        digest.update(repr(tuple(row)).encode("utf-8", "backslashreplace") + b"\n")
    return digest.hexdigest()


_REFLECTED: dict[int, tuple[sa.Engine, sa.MetaData]] = {}


def _metadata(engine: sa.Engine) -> sa.MetaData:
    """The engine's tables, reflected once (so tables outside the models count too)."""
    cached = _REFLECTED.get(id(engine))
    if cached is None or cached[0] is not engine:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        cached = _REFLECTED[id(engine)] = (engine, metadata)
    return cached[1]


def table_dump(engine: sa.Engine) -> dict[str, str]:
    """A hash of every table's rows; a table created or dropped since the first call shows as
    a change too."""
    metadata = _metadata(engine)
    with engine.connect() as conn:
        hashes = {name: _table_hash(conn, table) for name, table in metadata.tables.items()}
    names = set(sa.inspect(engine).get_table_names())
    hashes.update({name: "new table" for name in names - set(hashes)})
    hashes.update({name: "dropped" for name in set(hashes) - names})
    return hashes


def data_files(data_dir: Path, database: str | None = "consentcam.db") -> dict[str, str]:
    files: dict[str, str] = {}
    if not data_dir.exists():
        return files
    for root, _, names in os.walk(data_dir):
        for name in names:
            path = Path(root) / name
            rel = str(path.relative_to(data_dir))
            if database and rel.startswith(database):  # the database, -wal, -shm, -journal
                continue
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def snapshot(store: Store, settings: Settings) -> Snapshot:
    return Snapshot(table_dump(store.engine), data_files(settings.data_dir))


def table_names(store: Store) -> set[str]:
    return set(sa.inspect(store.engine).get_table_names())


def rows_where(store: Store, table: str, **equal: Any) -> list[dict[str, Any]]:
    """Rows of ``table`` whose columns equal the given values (bound parameters)."""
    metadata = sa.MetaData()
    t = sa.Table(table, metadata, autoload_with=store.engine)
    query = sa.select(t).where(*(t.c[k] == v for k, v in equal.items()))
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]
