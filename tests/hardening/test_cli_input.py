"""The bad-input corpus through the CLI (SQLite store): a refusal exits 2 with exactly one line on
stderr and no traceback, and leaves the store and its data directory byte-for-byte as they were;
a legal hostile-looking name is stored verbatim."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from consentcam.config import Settings, load_settings
from consentcam.consent.sites import add_camera
from consentcam.store.db import Store, open_store
from tests.hardening.corpus import (
    DIRECTION_OVERRIDE,
    HOSTILE,
    ILLEGAL,
    LEGAL_HOSTILE,
    LONE_SURROGATE,
    NUL,
    TOO_LONG,
    ImageCorpus,
    Snapshot,
    VideoCorpus,
    bad_csv_files,
    label,
    rows_where,
    snapshot,
)
from tests.hardening.support import populate

Run = Callable[..., tuple[int, str, str]]
REPO = Path(__file__).resolve().parents[2]
# What argv can carry: no NUL (the kernel ends each argument there) and no unpaired surrogate
# but the escapes of invalid UTF-8 bytes (PEP 383), which stand in for them here.
INVALID_UTF8 = b"caf\xe9 \xff".decode("utf-8", "surrogateescape")
ARGV_HOSTILE = (*(v for v in HOSTILE if v not in (NUL, LONE_SURROGATE)), INVALID_UTF8)
ARGV_ILLEGAL = (
    *(v for v in ILLEGAL if v not in (NUL, LONE_SURROGATE)),
    DIRECTION_OVERRIDE,
    INVALID_UTF8,
)


@dataclass(frozen=True)
class CliStore:
    data_dir: Path
    settings: Settings
    store: Store
    member: str
    evidence: Path
    folder: Path

    def snapshot(self) -> Snapshot:
        return snapshot(self.store, self.settings)


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory: pytest.TempPathFactory, videos: VideoCorpus) -> Iterator[CliStore]:
    """A development store (as 'consentcam init --dev' makes it) with site 'shop', a verify
    camera 'kiosk', a consenting member, and a count camera for every corpus video, named after
    the file."""
    from consentcam.consent.context import open_ledger

    folder = tmp_path_factory.mktemp("cli")
    settings = load_settings(data_dir=folder / "store", dev=True)
    ledger = open_ledger(settings, "test:setup", create=True)
    ctx = populate(ledger, settings, folder, str(videos.reference))
    for name, path in {**videos.unreadable, **videos.damaged}.items():
        add_camera(ledger, "shop", name, str(path), "count", False)
    store = open_store(settings)
    yield CliStore(folder / "store", settings, store, ctx.member, ctx.evidence, folder)
    store.engine.dispose()


@pytest.fixture
def cli(cli_store: CliStore, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI's entry point in-process, with standard streams encoded as a real interpreter's
    are (UTF-8; stderr with backslashreplace), so a message quoting an undecodable file name
    is printed as it would be (pytest's capture would refuse it)."""
    from consentcam.cli.main import main

    monkeypatch.delenv("CONSENTCAM_TEMPLATE_KEY", raising=False)
    monkeypatch.delenv("CONSENTCAM_TEMPLATE_KEY_FILE", raising=False)
    monkeypatch.setenv("CONSENTCAM_ACTOR", "test:cli")

    def run(*args: str) -> tuple[int, str, str]:
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
        err = io.TextIOWrapper(
            io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True
        )
        with monkeypatch.context() as m:
            m.setattr(sys, "stdout", out)
            m.setattr(sys, "stderr", err)
            with pytest.raises(SystemExit) as exc:
                main(["--data-dir", str(cli_store.data_dir), *args])
        code = exc.value.code if isinstance(exc.value.code, int) else 1
        texts = [b.buffer.getvalue().decode("utf-8", "replace") for b in (out, err)]
        return code, texts[0], texts[1]

    return run


def refusal_problems(
    cli: Run, store: CliStore, args: list[str], name: str | None = None
) -> list[str]:
    """Run a command that must be refused; what is wrong with how it was."""
    before = store.snapshot()
    code, _, err = cli(*args)
    what = name or " ".join(label(a) for a in args)
    found = []
    if code != 2:
        found.append(f"{what}: exit {code}, expected 2 ({err.strip()[:200]!r})")
    if err.count("\n") != 1 or not err.endswith("\n"):
        found.append(f"{what}: stderr is not exactly one line: {err[:300]!r}")
    if "Traceback" in err:
        found.append(f"{what}: traceback on stderr")
    changed = before.diff(store.snapshot())
    if changed:
        found.append(f"{what}: refused, but changed {', '.join(changed)}")
    return found


# --- images, videos and files ------------------------------------------------------------------


def test_bad_images_through_every_image_verb(
    cli: Run, cli_store: CliStore, images: ImageCorpus, photos: Path
) -> None:
    good = str(photos / "obama_small.jpg")
    wrong = []
    for name, path in images.bad.items():
        for args in (
            ["enroll", cli_store.member, str(path)],
            ["identify", str(path), "--site", "shop"],
            ["detect", str(path)],
            ["detect", str(path), "--json"],
            ["compare", str(path), good],
        ):
            wrong += refusal_problems(cli, cli_store, args, f"{args[0]} {name}")
    assert not wrong, "\n".join(wrong)


def test_bad_purchase_files(cli: Run, cli_store: CliStore) -> None:
    wrong = []
    for name, path in bad_csv_files(cli_store.folder, cli_store.member).items():
        wrong += refusal_problems(cli, cli_store, ["purchases", "import", str(path)], name)
    assert not wrong, "\n".join(wrong)


def test_hostile_file_paths(cli: Run, cli_store: CliStore) -> None:
    """Names of files that do not exist, cannot be named, or are not what the verb reads."""
    paths = [v for v in ARGV_HOSTILE if v not in ("/etc/passwd", "../../etc/passwd")]
    paths += ["/etc/passwd", "/dev/null", str(cli_store.folder), "photo\nwith a newline.jpg"]
    wrong = []
    for path in paths:
        for args in (
            ["enroll", cli_store.member, path],
            ["identify", path, "--site", "shop"],
            ["purchases", "import", path],
            ["compare", path, path],
        ):
            wrong += refusal_problems(cli, cli_store, args)
    for path in [v for v in ARGV_HOSTILE if v not in ("/etc/passwd", "../../etc/passwd")]:
        args = ["consent", "record", cli_store.member, "--purpose", "recognition"]
        wrong += refusal_problems(cli, cli_store, [*args, "--evidence", path])
    assert not wrong, "\n".join(wrong)


def test_watch_refuses_unreadable_videos(
    cli: Run, cli_store: CliStore, videos: VideoCorpus
) -> None:
    wrong = []
    for name in videos.unreadable:
        for extra in ([], ["--json"]):
            wrong += refusal_problems(cli, cli_store, ["watch", name, *extra], f"watch {name}")
    assert not wrong, "\n".join(wrong)


def test_watch_plays_damaged_videos_to_their_end(
    cli: Run, cli_store: CliStore, videos: VideoCorpus
) -> None:
    """A damaged file that opens is watched to where it ends (exit 0 with a summary), or
    refused like an unreadable one; never a crash."""
    wrong = []
    for name in videos.damaged:
        code, out, err = cli("watch", name, "--json")
        if code == 2:
            wrong += [] if err.count("\n") == 1 else [f"watch {name}: {err!r}"]
            continue
        lines = out.strip().splitlines()
        if code != 0 or not lines or '"kind": "summary"' not in lines[-1]:
            wrong.append(f"watch {name}: exit {code}, stdout {out[-200:]!r}, stderr {err[-300:]!r}")
    assert not wrong, "\n".join(wrong)


# --- hostile strings in every text argument -----------------------------------------------------


def test_hostile_references_are_refused(cli: Run, cli_store: CliStore) -> None:
    """Every argument that names something (a site, camera, member, webhook): nothing of that
    name exists, so each is refused, whatever the text."""
    member = cli_store.member
    wrong = []
    for v in ARGV_HOSTILE:
        for args in (
            ["camera", "add", v, "cam", "--source", "a.mp4", "--mode", "count"],
            ["member", "add", "--site", v, "--name", "Ada"],
            ["consent", "record", v, "--purpose", "recognition", "--evidence",
             str(cli_store.evidence)],
            ["consent", "record", member, "--purpose", "recognition", "--evidence",
             str(cli_store.evidence), "--notice", v],
            ["enroll", v, str(cli_store.evidence)],
            ["withdraw", v],
            ["export", v],
            ["claim", v, member],
            ["claim", "kiosk", v],
            ["claim", "kiosk", member, "--site", v],
            ["watch", v],
            ["watch", "entrance", "--site", v],
            ["webhook", "add", v],
            ["webhook", "add", "https://hooks.example/h", "--site", v],
            ["webhook", "remove", v],
            ["calibrate", "--site", v],
            ["accuracy", "--site", v],
            ["footfall", "--site", v],
        ):  # fmt: skip
            wrong += refusal_problems(cli, cli_store, args)
    assert not wrong, "\n".join(wrong)


NAMED = {
    "site name": (["site", "add", "{v}", "--jurisdiction", "eu"], "sites", "name"),
    "camera name": (
        ["camera", "add", "shop", "{v}", "--source", "a.mp4", "--mode", "count"],
        "cameras",
        "name",
    ),
    "member name": (["member", "add", "--site", "shop", "--name", "{v}"], "members", "name"),
    "guardian": (
        [
            *("consent", "record", "{member}", "--purpose", "recognition"),
            *("--evidence", "{evidence}", "--guardian", "{v}"),
        ],
        "consents",
        "guardian_name",
    ),
}


@pytest.mark.parametrize(("verb", "table", "column"), NAMED.values(), ids=NAMED.keys())
def test_hostile_names(
    cli: Run, cli_store: CliStore, verb: list[str], table: str, column: str
) -> None:
    """Legal names are stored exactly as typed; names no store can hold are refused cleanly."""
    wrong = []
    for v in ARGV_HOSTILE:
        fields = {"v": v, "member": cli_store.member, "evidence": str(cli_store.evidence)}
        args = [a.format(**fields) for a in verb]
        if v in ARGV_ILLEGAL:
            wrong += refusal_problems(cli, cli_store, args)
            continue
        code, _, err = cli(*args)
        stored = rows_where(cli_store.store, table, **{column: v})
        if code != 0 or len(stored) != 1:
            wrong.append(f"{label(v)}: exit {code}, {len(stored)} row(s) stored; {err!r}")
    assert not wrong, "\n".join(wrong)


def test_invalid_utf8_arguments_in_process(cli: Run, cli_store: CliStore) -> None:
    """Invalid UTF-8 in argv arrives as surrogate escapes (PEP 383): refused, not a crash."""
    bad = INVALID_UTF8
    wrong = []
    for args in (
        ["site", "add", bad, "--jurisdiction", "eu"],
        ["member", "add", "--site", "shop", "--name", bad],
        ["member", "add", "--site", bad, "--name", "Ada"],
        ["camera", "add", "shop", "cam", "--source", bad, "--mode", "count"],
        ["webhook", "add", "https://hooks.example/" + bad],
        ["claim", bad, cli_store.member],
        ["withdraw", bad],
        ["enroll", cli_store.member, "/tmp/" + bad + ".jpg"],
    ):
        wrong += refusal_problems(cli, cli_store, args)
    assert not wrong, "\n".join(wrong)


def test_invalid_utf8_arguments_in_a_real_process(cli_store: CliStore) -> None:
    """The same through a real process: argv bytes, the interpreter's own stderr encoding."""
    before = cli_store.snapshot()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTCAM_")}
    args = [b"--data-dir", os.fsencode(cli_store.data_dir)]
    args += [b"member", b"add", b"--site", b"shop", b"--name", b"caf\xe9\xff"]
    done = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"consentcam", *args],
        capture_output=True,
        env={**env, "PYTHONPATH": str(REPO / "src")},
        timeout=60,
        check=False,
    )
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert before.diff(cli_store.snapshot()) == []


def test_too_long_values_are_refused(cli: Run, cli_store: CliStore) -> None:
    wrong = []
    for args in (
        ["site", "add", TOO_LONG, "--jurisdiction", "eu"],
        ["camera", "add", "shop", "cam", "--source", TOO_LONG, "--mode", "count"],
        ["webhook", "add", "https://hooks.example/" + TOO_LONG],
    ):
        wrong += refusal_problems(cli, cli_store, args)
    assert not wrong, "\n".join(wrong)


def test_sql_injection_member_is_harmless(cli: Run, cli_store: CliStore) -> None:
    name = LEGAL_HOSTILE[0]
    code, out, _ = cli("member", "add", "--site", "shop", "--name", name, "--json")
    assert code == 0
    member = json.loads(out)["member_id"]
    code, out, _ = cli("export", member, "--json")
    assert code == 0 and json.loads(out)["member"]["name"] == name
    assert rows_where(cli_store.store, "members", id=cli_store.member)  # the table is there
