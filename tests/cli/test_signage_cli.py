from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from consentcam.config import Settings
from consentcam.consent.context import Ledger
from tests.support.seed import Chain, build_chain

Run = Callable[..., tuple[int, str, str]]
BASE = ("--base-url", "https://shop.example")


@pytest.fixture
def cli(run_cli: Run, store_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI on the test store (SQLite or PostgreSQL) with its development key."""
    monkeypatch.delenv("CONSENTCAM_TEMPLATE_KEY", raising=False)
    monkeypatch.setenv("CONSENTCAM_DEV", "1")
    store = ["--data-dir", str(store_settings.data_dir)]
    if store_settings.database_url:
        store += ["--db-url", store_settings.database_url]

    def run(*args: str) -> tuple[int, str, str]:
        return run_cli(*store, *args)

    return run


@pytest.fixture
def chain(
    ledger: Ledger, photos: Path, evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Chain:
    return build_chain(ledger, photos, evidence, tmp_path, monkeypatch)


def test_signage_html_to_stdout_and_pdf_to_a_file(cli: Run, chain: Chain, tmp_path: Path) -> None:
    code, out, err = cli("signage", "flagship", *BASE, "--controller", "Acme Retail GmbH")
    assert code == 0 and out.startswith("<!DOCTYPE html>")
    assert "Acme Retail GmbH" in out and "https://shop.example/kiosk/notice?site=flagship" in out
    assert "blank lines to fill in" in err  # no --contact
    sign = tmp_path / "sign.pdf"
    code, out, err = cli(
        "signage", "shanghai", "--format", "pdf", "--out", str(sign), *BASE,
        "--controller", "Acme", "--contact", "dpo@acme.example", "--paper", "letter",
    )  # fmt: skip
    assert code == 0 and out == "" and f"wrote {sign}" in err
    assert sign.read_bytes().startswith(b"%PDF-")


def test_signage_bad_input_is_one_line_and_exit_2(cli: Run, chain: Chain) -> None:
    cases = [
        (("signage", "flagship"), "absolute URL"),
        (("signage", "nowhere", *BASE), "no site named 'nowhere'"),
        (("signage", "flagship", *BASE, "--format", "docx"), "docx"),
        (("signage", "flagship", *BASE, "--controller", "x" * 201), "1 to 200 characters"),
        (("signage", "flagship", "--base-url", "ftp://shop.example"), "http"),
        (("signage", "flagship", *BASE, "--out", "/nonexistent/dir/sign.html"), "cannot write"),
    ]
    for args, message in cases:
        code, out, err = cli(*args)
        assert code == 2 and out == "", args
        assert message in err and err.count("\n") == 1, (args, err)


def test_compliance_documents(cli: Run, chain: Chain, tmp_path: Path) -> None:
    code, out, _ = cli("compliance", "ropa")
    assert code == 0 and out.startswith("# Record of processing activities")
    assert "| flagship |" in out and "| shanghai |" in out
    code, out, _ = cli("compliance", "ropa", "--format", "json", "--site", "flagship")
    doc = json.loads(out)
    assert [s["name"] for s in doc["sites"]] == ["flagship"]
    assert doc["sites"][0]["enrolled_members"] == 1
    target = tmp_path / "dpia.html"
    code, _, err = cli(
        "compliance", "dpia", "--format", "html", "--out", str(target), "--controller", "Acme"
    )
    assert code == 0 and "DRAFT" in target.read_text() and f"wrote {target}" in err
    code, out, err = cli("compliance", "dpia", "--site", "nowhere")
    assert code == 2 and out == "" and err.count("\n") == 1 and "nowhere" in err
    code, _, err = cli("compliance", "ropa", "--format", "pdf")
    assert code == 2 and err.count("\n") == 1


@pytest.mark.parametrize(
    "verb", [("signage",), ("compliance",), ("compliance", "ropa"), ("compliance", "dpia")]
)
def test_every_verb_has_help_with_an_example(run_cli: Run, verb: tuple[str, ...]) -> None:
    code, out, _ = run_cli(*verb, "--help")
    assert code == 0 and "Usage:" in out
    assert "Example" in out and "consentcam " in out.split("Example", 1)[1]
