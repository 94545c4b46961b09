"""The bad-input corpus through the library: every refusal is a ``ConsentcamError`` (never another
exception) and leaves the store byte-for-byte as it was; a legal but hostile-looking string is
stored verbatim and harms nothing."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import ImageFile

from consentcam.audit.chain import verify
from consentcam.auth.tokens import issue_token
from consentcam.auth.users import add_user
from consentcam.consent.consents import record_consent
from consentcam.consent.enrolment import enroll, identify
from consentcam.consent.members import add_member
from consentcam.consent.purchases import import_purchases
from consentcam.consent.rights import export_member, withdraw
from consentcam.consent.sites import add_camera, add_site
from consentcam.errors import ConsentcamError, InputError, NotFound, SourceError
from consentcam.events.claims import open_claim
from consentcam.events.webhooks import add_webhook
from consentcam.pipeline.sources import open_source
from consentcam.vision.decode import load_image
from consentcam.vision.faces import enrolment_face, file_faces
from tests.hardening.corpus import (
    HOSTILE,
    ILLEGAL,
    LEGAL_HOSTILE,
    LONE_SURROGATE,
    NAME_ILLEGAL,
    NEWLINE,
    NUL,
    TOO_LONG,
    ImageCorpus,
    VideoCorpus,
    bad_csv_files,
    label,
    rows_where,
    table_names,
)
from tests.hardening.support import Ctx, Expect, attempt, problems

# --- hostile strings in every text field ------------------------------------------------------


def name_rule(value: str) -> Expect:
    """Names (site, camera, member, guardian, user): printable text up to 200 characters is
    legal, whatever it looks like; control characters, text-direction overrides, unpaired
    surrogates and 10k are not."""
    return "refused" if value in NAME_ILLEGAL else "stored"


def lookup_rule(value: str) -> Expect:
    """A reference to something that does not exist: always a refusal (NotFound or bad input)."""
    return "refused"


def free_text_rule(value: str) -> Expect:
    """Free text stored as given (a camera source, a profile value): hostile-looking text is
    legal; what no store or JSON response can hold (NUL, unpaired surrogates) is refused; a
    line break or 10k characters may go either way but, if kept, verbatim."""
    if value in (NUL, LONE_SURROGATE):
        return "refused"
    return "either" if value in (NEWLINE, TOO_LONG) else "stored"


def profile_rule(value: str) -> Expect:
    """A membership field is JSON: anything JSON can carry may be kept (NUL travels as \\u0000);
    an unpaired surrogate cannot be written as UTF-8 JSON, so the member card could never be
    served again: refused; so is a value past the profile's bounds (10k characters)."""
    if value in (LONE_SURROGATE, TOO_LONG):
        return "refused"
    return "either" if value == NUL else "stored"


def profile_key_rule(value: str) -> Expect:
    """A membership field's name is a short label, held to the rules of names."""
    return name_rule(value)


def evidence_rule(value: str) -> Expect:
    # The evidence is a file the operator names: only its hash is kept. An existing file
    # (/etc/passwd, or ../../etc/passwd from the test's working folder) is usable evidence.
    if value == "/etc/passwd":
        return "stored"
    return "either" if value == "../../etc/passwd" else "refused"


def url_rule(value: str) -> Expect:
    return "refused" if value in ILLEGAL else "either"


def _row(ctx: Ctx, table: str, column: str) -> Callable[[Any], Any]:
    def read(result: Any) -> Any:
        row_id = result[0].id if isinstance(result, tuple) else result.id
        (row,) = rows_where(ctx.ledger.store, table, id=row_id)
        return row[column]

    return read


_COUNTER = itertools.count()


def _unique(value: str) -> str:
    return f"cam-{next(_COUNTER)}"


@dataclass(frozen=True)
class Field:
    name: str
    call: Callable[[Ctx, str], Any]
    expect: Callable[[str], Expect]
    stored: Callable[[Ctx], Callable[[Any], Any]] | None = None
    # What an accepted value must read back as (default: itself)
    want: Callable[[str], Any] | None = None


def _profile_value(ctx: Ctx) -> Callable[[Any], Any]:
    return lambda m: rows_where(ctx.ledger.store, "members", id=m.id)[0]["profile"]["note"]


def _profile_key(ctx: Ctx) -> Callable[[Any], Any]:
    return lambda m: next(iter(rows_where(ctx.ledger.store, "members", id=m.id)[0]["profile"]))


def _evidence_hash(ctx: Ctx) -> Callable[[Any], Any]:
    return lambda consent: rows_where(ctx.ledger.store, "consents", id=consent.id)[0][
        "evidence_sha256"
    ]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


FIELDS = [
    Field(
        "site name",
        lambda c, v: add_site(c.ledger, v, "eu"),
        name_rule,
        lambda c: _row(c, "sites", "name"),
    ),
    Field("site jurisdiction", lambda c, v: add_site(c.ledger, "x", v), lookup_rule),
    Field(
        "camera site",
        lambda c, v: add_camera(c.ledger, v, "cam", "a.mp4", "count", False),
        lookup_rule,
    ),
    Field(
        "camera name",
        lambda c, v: add_camera(c.ledger, c.site, v, "a.mp4", "count", False),
        name_rule,
        lambda c: _row(c, "cameras", "name"),
    ),
    Field(
        "camera source",
        lambda c, v: add_camera(c.ledger, c.site, _unique(v), v, "count", False),
        free_text_rule,
        lambda c: _row(c, "cameras", "source"),
    ),
    Field(
        "camera mode",
        lambda c, v: add_camera(c.ledger, c.site, "cam", "a.mp4", v, True),
        lookup_rule,
    ),
    Field("member site", lambda c, v: add_member(c.ledger, v, "Ada"), lookup_rule),
    Field(
        "member name",
        lambda c, v: add_member(c.ledger, c.site, v),
        name_rule,
        lambda c: _row(c, "members", "name"),
    ),
    Field(
        "member profile value",
        lambda c, v: add_member(c.ledger, c.site, "Ada", {"note": v}),
        profile_rule,
        _profile_value,
    ),
    Field(
        "member profile key",
        lambda c, v: add_member(c.ledger, c.site, "Ada", {v: "x"}),
        profile_key_rule,
        _profile_key,
    ),
    Field(
        "consent member",
        lambda c, v: record_consent(c.ledger, v, purpose="recognition", evidence=c.evidence),
        lookup_rule,
    ),
    Field(
        "consent purpose",
        lambda c, v: record_consent(c.ledger, c.member, purpose=v, evidence=c.evidence),
        lookup_rule,
    ),
    Field(
        "consent channel",
        lambda c, v: record_consent(
            c.ledger, c.member, purpose="recognition", evidence=c.evidence, channel=v
        ),
        lookup_rule,
    ),
    Field(
        # The API allows [A-Za-z0-9._-]{1,40}; the library must refuse the rest just the same.
        "consent notice version",
        lambda c, v: record_consent(
            c.ledger, c.member, purpose="recognition", evidence=c.evidence, notice_version=v
        ),
        lookup_rule,
    ),
    Field(
        "consent guardian",
        lambda c, v: record_consent(
            c.ledger, c.member, purpose="recognition", evidence=c.evidence, guardian_name=v
        ),
        name_rule,
        lambda c: _row(c, "consents", "guardian_name"),
    ),
    Field(
        "consent evidence path",
        lambda c, v: record_consent(c.ledger, c.member, purpose="recognition", evidence=Path(v)),
        evidence_rule,
        _evidence_hash,
        want=lambda v: _sha256(Path(v)),
    ),
    Field("withdraw member", lambda c, v: withdraw(c.ledger, v), lookup_rule),
    Field("export member", lambda c, v: export_member(c.ledger, v), lookup_rule),
    Field("enrol member", lambda c, v: enroll(c.ledger, v, [c.evidence]), lookup_rule),
    Field("claim camera", lambda c, v: open_claim(c.ledger, v, c.member), lookup_rule),
    Field("claim member", lambda c, v: open_claim(c.ledger, c.camera, v), lookup_rule),
    Field(
        "claim site",
        lambda c, v: open_claim(c.ledger, c.camera, c.member, site_name=v),
        lookup_rule,
    ),
    Field("webhook url", lambda c, v: add_webhook(c.ledger, v), lookup_rule),
    Field(
        "webhook url path",
        lambda c, v: add_webhook(c.ledger, "https://hooks.example/" + v),
        url_rule,
        lambda c: lambda r: rows_where(c.ledger.store, "webhooks", id=r[0].id)[0]["url"][22:],
    ),
    Field(
        "webhook site",
        lambda c, v: add_webhook(c.ledger, "https://hooks.example/h", v),
        lookup_rule,
    ),
    Field(
        "user name",
        lambda c, v: add_user(c.ledger, v, "staff", "correct horse battery staple"),
        name_rule,
        lambda c: _row(c, "users", "name"),
    ),
    Field(
        "user role", lambda c, v: add_user(c.ledger, "u", v, "correct horse battery"), lookup_rule
    ),
    Field(
        "user sites",
        lambda c, v: add_user(c.ledger, "u2", "staff", "correct horse battery", [v]),
        lookup_rule,
    ),
    Field("token user", lambda c, v: issue_token(c.ledger, v, "label"), lookup_rule),
]


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_hostile_strings_in_every_text_field(ctx: Ctx, field: Field) -> None:
    ctx = ctx.fresh()
    tables = table_names(ctx.ledger.store)
    wrong: list[str] = []
    for value in HOSTILE:
        outcome = attempt(value, partial(field.call, ctx, value), ctx.snapshot)
        stored = field.stored(ctx) if field.stored else None
        want = field.want(value) if field.want and outcome.result is not None else None
        wrong += problems(outcome, field.expect(value), stored, want)
    assert table_names(ctx.ledger.store) == tables
    with ctx.ledger.store.transaction() as s:
        assert verify(s).ok, "the audit chain broke"
    assert not wrong, f"{field.name}:\n" + "\n".join(wrong)


def test_token_labels_are_kept_verbatim_or_refused(ctx: Ctx) -> None:
    add_user(ctx.ledger, "clerk", "staff", "correct horse battery staple")
    wrong: list[str] = []
    for value in HOSTILE:
        outcome = attempt(value, partial(issue_token, ctx.ledger, "clerk", value), ctx.snapshot)
        expect: Expect = "refused" if value in (NUL, LONE_SURROGATE) else "either"
        wrong += problems(
            outcome,
            "stored" if value in LEGAL_HOSTILE else expect,
            lambda t: rows_where(ctx.ledger.store, "api_tokens", id=t.id)[0]["name"],
        )
    assert not wrong, "\n".join(wrong)


def test_sql_in_a_name_is_data(ctx: Ctx) -> None:
    """The classic: a member named like an injection is an ordinary member; every table and row
    is still there, and the name reads back exactly."""
    before = {t: len(rows_where(ctx.ledger.store, t)) for t in ("members", "consents", "sites")}
    member = add_member(ctx.ledger, ctx.site, "Robert'); DROP TABLE members; --")
    assert rows_where(ctx.ledger.store, "members", id=member.id)[0]["name"] == (
        "Robert'); DROP TABLE members; --"
    )
    assert len(rows_where(ctx.ledger.store, "members")) == before["members"] + 1
    assert len(rows_where(ctx.ledger.store, "consents")) == before["consents"]
    exported = export_member(ctx.ledger, member.id)
    assert exported.member.name == "Robert'); DROP TABLE members; --"


# --- images ---------------------------------------------------------------------------------


def _as_stream(path: Path) -> io.BytesIO:
    stream = io.BytesIO(path.read_bytes())
    stream.name = path.name
    return stream


@pytest.mark.parametrize("form", ["path", "str", "bytes", "stream"])
def test_decoder_refuses_every_bad_image(images: ImageCorpus, form: str) -> None:
    convert: dict[str, Callable[[Path], Any]] = {
        "path": lambda p: p,
        "str": str,
        "bytes": lambda p: p.read_bytes(),
        "stream": _as_stream,
    }
    wrong = []
    for name, path in images.bad.items():
        try:
            load_image(convert[form](path))
            wrong.append(f"{name}: decoded")
        except InputError:
            pass
        except Exception as exc:
            wrong.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not wrong, "\n".join(wrong)


def test_damaged_images_decode_or_are_refused(images: ImageCorpus) -> None:
    for name, path in images.damaged.items():
        try:
            img = load_image(path)
        except InputError:
            continue
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name


def test_content_decides_not_the_name(images: ImageCorpus) -> None:
    """PNG bytes named .jpg (and JPEG named .webp) are what they are: they decode, to the same
    pixels as the same bytes under their own name. Refusing them would refuse phones' exports."""
    reference = load_image(images.reference)
    png_as_jpg = load_image(images.mislabelled["png-bytes-named.jpg"])
    assert np.array_equal(png_as_jpg, reference)
    assert load_image(images.mislabelled["jpeg-bytes-named.webp"]).shape == reference.shape


@pytest.mark.parametrize(
    "name", ["png-bomb-50000x50000.png", "jpeg-bomb-60000x60000.jpg", "webp-bomb-16000x16000.webp"]
)
def test_decompression_bombs_are_refused_before_decoding(
    images: ImageCorpus, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> Any:
        loads.append(self.format or "?")
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    start = time.perf_counter()
    with pytest.raises(InputError, match="pixel limit"):
        load_image(images.bad[name])
    assert loads == [], "pixel data was decoded before the size was checked"
    assert time.perf_counter() - start < 1.0


def test_face_pipeline_refuses_bad_images(images: ImageCorpus) -> None:
    wrong = []
    for name, path in images.bad.items():
        for call in (enrolment_face, file_faces):
            try:
                call(path)
                wrong.append(f"{call.__name__}({name}): accepted")
            except InputError:
                pass
            except Exception as exc:
                wrong.append(f"{call.__name__}({name}): {type(exc).__name__}: {exc}")
    assert not wrong, "\n".join(wrong)


def test_enrolment_with_bad_photos_stores_nothing(ctx: Ctx, images: ImageCorpus) -> None:
    wrong = []
    for name, path in images.bad.items():
        outcome = attempt(name, partial(enroll, ctx.ledger, ctx.member, [path]), ctx.snapshot)
        wrong += problems(outcome, "refused")
    assert not wrong, "\n".join(wrong)


def test_one_bad_photo_among_good_ones_stores_nothing(
    ctx: Ctx, images: ImageCorpus, photos: Path
) -> None:
    before = ctx.snapshot()
    bad = images.bad["truncated-half.jpeg"]
    with pytest.raises(InputError, match="truncated"):
        enroll(ctx.ledger, ctx.member, [photos / "obama_small.jpg", bad])
    assert before.diff(ctx.snapshot()) == []


def test_identify_refuses_bad_photos(ctx: Ctx, images: ImageCorpus) -> None:
    wrong = []
    for name, path in images.bad.items():
        outcome = attempt(name, partial(identify, ctx.ledger, path, ctx.site), ctx.snapshot)
        wrong += problems(outcome, "refused")
    assert not wrong, "\n".join(wrong)


def test_hostile_photo_paths(ctx: Ctx) -> None:
    wrong = []
    for value in HOSTILE:
        for action in (
            lambda v=value: enroll(ctx.ledger, ctx.member, [Path(v)]),
            lambda v=value: identify(ctx.ledger, Path(v), ctx.site),
            lambda v=value: load_image(v),
        ):
            wrong += problems(attempt(value, action, ctx.snapshot), "refused")
    assert not wrong, "\n".join(wrong)


# --- purchases CSV -----------------------------------------------------------------------------


def test_bad_purchase_files_are_refused_whole(ctx: Ctx) -> None:
    ctx = ctx.fresh()
    wrong = []
    for name, path in bad_csv_files(ctx.folder, ctx.member).items():
        outcome = attempt(name, partial(import_purchases, ctx.ledger, path), ctx.snapshot)
        wrong += problems(outcome, "refused")
        if outcome.error is not None and not isinstance(outcome.error, InputError):
            wrong.append(f"{name}: {type(outcome.error).__name__}, expected InputError")
    assert not wrong, "\n".join(wrong)


def test_invalid_utf8_names_its_line(ctx: Ctx) -> None:
    path = bad_csv_files(ctx.folder, ctx.member)["invalid-utf8-in-row.csv"]
    with pytest.raises(InputError, match="line 3: not valid UTF-8"):
        import_purchases(ctx.ledger, path)


def test_hostile_purchase_file_paths(ctx: Ctx) -> None:
    wrong = []
    for value in HOSTILE:
        action = lambda v=value: import_purchases(ctx.ledger, Path(v))  # noqa: E731
        wrong += problems(attempt(value, action, ctx.snapshot), "refused")
    assert not wrong, "\n".join(wrong)


def test_hostile_item_names_are_stored_verbatim(ctx: Ctx) -> None:
    """Item names are free text from the point of sale: an injection or a NUL is an odd item
    name, kept exactly (the column is JSON, which escapes it)."""
    ctx = ctx.fresh()
    items = [v for v in (*LEGAL_HOSTILE, NUL) if ";" not in v]  # ';' separates items
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["member_id", "time", "items", "amount", "currency"])
    for item in items:
        writer.writerow([ctx.member, "2024-05-01T10:00:00+00:00", item, "1.00", "EUR"])
    path = ctx.folder / "hostile-items.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    assert import_purchases(ctx.ledger, path) == {"rows": len(items), "members": 1}
    stored = sorted(
        r["items"]["items"][0]
        for r in rows_where(ctx.ledger.store, "purchases", member_id=ctx.member)
    )
    assert stored == sorted(items)
    assert {"members", "consents", "purchases"} <= table_names(ctx.ledger.store)


# --- camera sources ----------------------------------------------------------------------------


def test_unreadable_videos_are_refused_when_opened(videos: VideoCorpus) -> None:
    for path in videos.unreadable.values():
        with pytest.raises(SourceError, match="camera 'door'"):
            open_source(str(path), "door")


def test_damaged_videos_play_to_their_end_or_are_refused(videos: VideoCorpus) -> None:
    for name, path in videos.damaged.items():
        try:
            source = open_source(str(path), "door")
        except SourceError:
            continue
        try:
            frames = list(source.frames())
        except SourceError:
            continue
        finally:
            source.close()
        assert frames, f"{name}: opened, but no frame"
        for frame in frames:
            assert frame.image.dtype == np.uint8 and frame.image.shape[2] == 3, name


@pytest.mark.parametrize(
    "uri",
    [*HOSTILE, "", "   ", "file://../../etc/passwd", "file://remote.host/x.mp4", "ftp://h/x.mp4"],
    ids=label,
)
def test_hostile_sources_raise_source_errors(uri: str) -> None:
    try:
        source = open_source(uri, "door")
    except ConsentcamError as exc:
        assert isinstance(exc, (SourceError, NotFound)), type(exc)
        return
    except Exception as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{label(uri)}: {type(exc).__name__}: {exc}")
    source.close()
    pytest.fail(f"{label(uri)} opened as a source")
