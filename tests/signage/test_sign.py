from __future__ import annotations

import re
from html import escape, unescape
from pathlib import Path
from typing import Any

import pytest

from consentcam.consent.profiles import PROFILES
from consentcam.errors import InputError
from consentcam.signage import SignOptions, SignSite, sign_content, sign_html, sign_pdf
from consentcam.signage import pdf as pdf_module
from consentcam.signage.content import BLANK, duration
from consentcam.signage.fonts import pick_cjk_font, split_cjk, strip_cjk, text_fonts
from tests.signage.test_qr import decode, svg_rows

BASE = "https://shop.example"
OPTIONS = SignOptions(
    controller="Acme Retail GmbH", contact="privacy@acme.example, +49 30 123456", base_url=BASE
)
SITE = SignSite("flagship", frozenset({"door", "count"}))
EXTERNAL = re.compile(r"<link|<script|<img|<iframe|@import|url\(|\ssrc=", re.IGNORECASE)


def page_count(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", data))


@pytest.fixture
def pdf_texts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every paragraph the PDF renderer prints (its content streams are compressed glyph ids)."""
    seen: list[str] = []
    original = pdf_module._printable

    def spy(text: str, kind: Any) -> str:
        shown = original(text, kind)
        seen.append(shown)
        return shown

    monkeypatch.setattr(pdf_module, "_printable", spy)
    return seen


@pytest.mark.parametrize("code", sorted(PROFILES))
def test_html_sign_carries_the_profile_and_is_self_contained(code: str) -> None:
    rules = PROFILES[code]
    html = sign_html(SITE, rules, OPTIONS)
    text = _text(html)
    assert strip_cjk(rules.signage) in strip_cjk(text)
    assert escape("Acme Retail GmbH") in html and escape(OPTIONS.contact or "") in html
    assert f"{duration(rules.footfall_retention_days)}" in text
    if rules.allowed_modes != {"count"}:
        assert f"at the latest {duration(rules.template_inactivity_days or 0)}" in text or (
            f"or {duration(rules.template_inactivity_days or 0)} after your last interaction"
            in text
        )
        assert duration(rules.event_retention_days) in text
        assert "How to withdraw" in text
        assert "ethnicity, emotion" in text and "not members" in text
    url = f"{BASE}/kiosk/notice?site=flagship"
    assert escape(url) in html
    svg = re.search(r"<svg.*?</svg>", html, re.DOTALL)
    assert svg is not None and decode(svg_rows(svg.group())) == url
    assert not EXTERNAL.search(html)
    assert "@page" in html and "@media print" in html


def test_retention_figures_come_from_the_profile() -> None:
    text = _text(sign_html(SITE, PROFILES["us-il"], OPTIONS))
    # BIPA 15(a): purpose met or 3 years after the last interaction, whichever comes first.
    assert "or 3 years after your last interaction, whichever comes first" in text
    assert "Records of recognitions (who, when, which camera): 1 year" in text
    assert "Anonymous visitor counts: 2 years" in text
    eu = _text(sign_html(SITE, PROFILES["eu"], OPTIONS))
    assert "at the latest 1 year after your last visit" in eu and "90 days" in eu


def test_eu_sign_has_the_gdpr_article_13_points() -> None:
    text = _text(sign_html(SITE, PROFILES["eu"], OPTIONS))
    for point in (
        "Controller (who is responsible)",
        "Acme Retail GmbH",
        "To recognise members who chose to opt in",
        "GDPR art. 9(2)(a)",
        "How long we keep it",
        "Access, rectification, erasure",
        "supervisory authority",
        "withdraw consent at any time",
        "Full notice (GDPR art. 13)",
    ):
        assert point in text, point


def test_nyc_sign_has_its_required_points() -> None:
    text = _text(sign_html(SITE, PROFILES["us-nyc"], OPTIONS))
    assert "Biometric Identifier Information Collected at This Location" in text
    for verb in ("Collects:", "Converts:", "Retains and stores:", "Shares: no."):
        assert verb in text, verb
    assert "never sold, leased, traded, shared for anything of value" in text
    assert "Post near every customer entrance (NYC Admin. Code 22-1202(a))" in text
    # The door camera converts every face it sees: the sign says so.
    assert "at the entrance camera: each face seen into a template" in text
    assert "letter portrait" in sign_html(SITE, PROFILES["us-nyc"], OPTIONS)


def test_bipa_sign_is_a_written_release_notice() -> None:
    text = _text(sign_html(SITE, PROFILES["us-il"], OPTIONS))
    assert "Written release" in text and "740 ILCS 14/15(b)" in text
    assert "for what purpose and for how long" in text and "retention policy is public" in text


def test_pipl_sign_is_prominent_and_bilingual() -> None:
    html = sign_html(SITE, PROFILES["cn"], OPTIONS)
    assert 'class="sign prominent"' in html
    assert '<h1 class="zh" lang="zh-Hans">人脸识别区域</h1>' in html
    assert "<h1>Face recognition area</h1>" in html
    assert "个人信息处理者" in html and "PIPL art. 26, 29" in html
    assert "Post prominently at every entrance" in html
    assert "A4 portrait" in html


def test_count_only_profile_says_no_face_recognition() -> None:
    text = _text(sign_html(SITE, PROFILES["us-portland"], OPTIONS))
    assert "No face recognition is used" in text
    assert "How to withdraw" not in text and "templates" not in text


def test_modes_in_use_are_explained() -> None:
    verify = _text(sign_html(SignSite("s", frozenset({"verify"})), PROFILES["eu"], OPTIONS))
    assert "checks that one member's face (1:1)" in verify and "entrance camera" not in verify
    door = _text(sign_html(SITE, PROFILES["eu"], OPTIONS))
    assert "staff confirm a match before any action beyond a greeting" in door


def test_user_text_is_escaped_and_blanks_fill_missing_fields() -> None:
    html = sign_html(SITE, PROFILES["eu"], SignOptions(controller="<b>Evil</b>", base_url=BASE))
    assert "<b>Evil</b>" not in html and "&lt;b&gt;Evil&lt;/b&gt;" in html
    assert BLANK in html  # contact left blank to fill in by hand


def test_paper_size_default_and_override() -> None:
    assert sign_content(SITE, PROFILES["eu"], OPTIONS).paper == "a4"
    assert sign_content(SITE, PROFILES["us-tx"], OPTIONS).paper == "letter"
    letter = SignOptions(base_url=BASE, paper="Letter")
    assert sign_content(SITE, PROFILES["eu"], letter).paper == "letter"
    with pytest.raises(InputError, match="paper"):
        sign_content(SITE, PROFILES["eu"], SignOptions(base_url=BASE, paper="a3"))


def test_sign_needs_an_absolute_notice_url() -> None:
    with pytest.raises(InputError, match="absolute URL"):
        sign_html(SITE, PROFILES["eu"], SignOptions())


@pytest.mark.parametrize("paper", ["a4", "letter"])
@pytest.mark.parametrize("code", sorted(PROFILES))
def test_pdf_sign_is_one_page(code: str, paper: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_module, "cjk_font", lambda: None)
    long = SignOptions(
        controller="C" * 120 + " Retail Holdings International GmbH & Co. KG",
        contact="Data protection officer, " + "Long Street 1, " * 11,
        base_url=BASE,
        paper=paper,
    )
    data = sign_pdf(SITE, PROFILES[code], long)
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert page_count(data) == 1
    size = b"595.28 841.89" if paper == "a4" else b"612.00 792.00"
    assert size in data


def test_pdf_prints_the_sign_content(pdf_texts: list[str]) -> None:
    sign_pdf(SITE, PROFILES["us-nyc"], OPTIONS)
    printed = "\n".join(pdf_texts)
    assert "Biometric Identifier Information Collected at This Location" in printed
    assert PROFILES["us-nyc"].signage in printed
    assert "Acme Retail GmbH" in printed and OPTIONS.contact in printed  # type: ignore[operator]
    assert f"{BASE}/kiosk/notice?site=flagship" in printed


def test_pipl_pdf_without_a_chinese_font_says_the_bilingual_sign_is_the_html(
    pdf_texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdf_module, "cjk_font", lambda: None)
    data = sign_pdf(SITE, PROFILES["cn"], OPTIONS)
    assert page_count(data) == 1
    printed = "\n".join(pdf_texts)
    assert pdf_module.NO_CJK_NOTE in printed
    assert "Face recognition area: only members who gave separate consent" in printed
    assert not any(cjk for text in pdf_texts for _, cjk in split_cjk(text))


def test_pipl_pdf_with_a_chinese_font_prints_the_chinese(
    pdf_texts: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    # No CJK font ships here: DejaVu stands in (its missing glyphs are only logged), which
    # exercises loading a fallback font and passing the Chinese through.
    fonts = text_fonts()
    assert fonts is not None
    data = sign_pdf(SITE, PROFILES["cn"], SignOptions(base_url=BASE, cjk_font=fonts[0]))
    assert page_count(data) == 1
    assert "人脸识别区域" in pdf_texts
    assert pdf_module.NO_CJK_NOTE not in "\n".join(pdf_texts)


def test_cjk_font_is_picked_from_fontconfig_output(tmp_path: Path) -> None:
    jp, sc = tmp_path / "NotoSansCJK-Regular.ttc", tmp_path / "NotoSansSC-Regular.otf"
    jp.write_bytes(b"")
    sc.write_bytes(b"")
    listing = f"{jp}: \n{sc}: \n/missing/wqy.ttf: \n{tmp_path}/font.pcf.gz: \n"
    assert pick_cjk_font(listing) == sc
    assert pick_cjk_font("") is None


def test_split_and_strip_cjk() -> None:
    text = "人脸识别区域：仅识别会员。 Face recognition area."  # noqa: RUF001 - Chinese punctuation
    assert split_cjk(text) == [
        ("人脸识别区域：仅识别会员。", True),  # noqa: RUF001
        (" Face recognition area.", False),
    ]
    assert strip_cjk(text) == "Face recognition area."
    assert split_cjk("") == []


def _text(html: str) -> str:
    """The visible text of a page, whitespace collapsed."""
    return unescape(" ".join(re.sub(r"<[^>]+>", " ", html).split()))
