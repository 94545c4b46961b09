from __future__ import annotations

import dataclasses
import json
import re

import pytest
from sqlalchemy import update

from consentcam.consent.context import Ledger
from consentcam.consent.sites import add_camera, add_site
from consentcam.errors import InputError, NotFound
from consentcam.signage import dpia, records_of_processing, render, sign_site, store_facts
from consentcam.signage.compliance import TO_COMPLETE
from consentcam.store.models import Camera
from tests.support.seed import Chain


def by_name(doc: dict, name: str) -> dict:  # type: ignore[type-arg]
    return next(s for s in doc["sites"] if s["name"] == name)


def test_ropa_describes_each_site_from_the_store(chain: Chain) -> None:
    doc = records_of_processing(chain.ledger, controller="Acme Retail GmbH", contact="dpo@acme")
    assert doc["controller"] == {"name": "Acme Retail GmbH", "contact": "dpo@acme"}
    assert [s["name"] for s in doc["sites"]] == ["flagship", "portland", "shanghai"]
    flagship = by_name(doc, "flagship")
    assert [(c["name"], c["mode"], c["signage_attested"]) for c in flagship["cameras"]] == [
        ("door", "door", True),
        ("entrance", "count", False),
    ]
    assert flagship["signage"] == {"status": "attested", "face_cameras": 1, "missing": []}
    assert (flagship["members"], flagship["enrolled_members"]) == (2, 1)
    assert flagship["members_with_purchases"] == 1
    assert flagship["retention_days"] == {
        "template_inactivity": 365,
        "events": 90,
        "footfall": 730,
    }
    assert by_name(doc, "portland")["signage"]["status"] == "not needed (count only)"
    shanghai = by_name(doc, "shanghai")
    assert shanghai["enrolled_members"] == 1
    assert shanghai["filing"]["enrolled_people"] == 2
    assert (shanghai["filing"]["warn_at"], shanghai["filing"]["file_at"]) == (80_000, 100_000)
    assert by_name(doc, "flagship")["filing"] is None
    assert doc["enrolled_people"] == 2
    names = [a["name"] for a in doc["activities"]]
    assert names == [
        "member recognition",
        "pictures for staff to check an alert",
        "anonymous footfall",
        "purchase history link",
    ]
    recognition = doc["activities"][0]
    assert recognition["sites"] == ["flagship", "shanghai"]
    assert "9(2)(a)" in recognition["legal_basis"]["flagship"]
    assert "1 year after the last interaction" in recognition["retention"]["flagship"]
    assert doc["findings"] == []


def test_recipients_are_scheme_and_host_only(chain: Chain) -> None:
    doc = records_of_processing(chain.ledger)
    assert any("webhook endpoint https://hooks.example " in r for r in doc["recipients"])
    dumped = json.dumps(doc) + render(doc, "md") + render(doc, "html")
    assert "secret-path" not in dumped and "s3cret" not in dumped


def test_ropa_renders_as_markdown_html_and_json(chain: Chain) -> None:
    doc = records_of_processing(chain.ledger, controller="Acme Retail GmbH")
    md = render(doc, "md")
    assert md.startswith("# Record of processing activities\n")
    for expected in (
        "| flagship | eu: European Union",
        "door (door, signs attested); entrance (count, no signs)",
        "| attested | 2 | 1 |",
        "| shanghai |",
        "2 of 100,000 (warn at 80,000): ok",
        "### Member recognition",
        "## Security measures",
    ):
        assert expected in md, expected
    html = render(doc, "html")
    assert html.startswith("<!DOCTYPE html>") and "<td>flagship</td>" in html
    assert "<td>attested</td><td>2</td><td>1</td>" in html
    assert json.loads(render(doc, "json")) == json.loads(json.dumps(doc))
    with pytest.raises(InputError, match="format"):
        render(doc, "pdf")


def test_dpia_is_a_draft_filled_from_the_configuration(chain: Chain) -> None:
    doc = dpia(chain.ledger, controller="Acme Retail GmbH")
    assert doc["status"] == "DRAFT" and "DRAFT" in doc["draft_notice"]
    assert [s["site"] for s in doc["description"]["sites"]] == ["flagship", "portland", "shanghai"]
    assert doc["description"]["sites"][0]["cameras"] == ["door: door", "entrance: count"]
    assert any(
        "door camera(s) door compare everyone entering" in p
        for p in doc["necessity_and_proportionality"]
    )
    false_match = doc["risks"][0]
    assert "flagship:" in false_match["source"] and "at 1 enrolled" in false_match["source"]
    assert all(r["likelihood"] == TO_COMPLETE for r in doc["risks"])
    md = render(doc, "md")
    assert md.startswith("# Data protection impact assessment (DRAFT)\n\n> **DRAFT")
    for heading in (
        "## 1. Description of the processing",
        "## 2. Necessity and proportionality",
        "## 3. Risks to the rights and freedoms",
        "## 4. Measures to address the risks",
        "## Sign-off",
    ):
        assert heading in md, heading
    html = render(doc, "html")
    assert '<p class="banner">DRAFT' in html and "<td>shanghai</td>" in html


def test_one_site_and_a_scope_of_sites(chain: Chain) -> None:
    doc = records_of_processing(chain.ledger, "shanghai")
    assert [s["name"] for s in doc["sites"]] == ["shanghai"]
    assert doc["recipients"] == [r for r in doc["recipients"] if "hooks.example" not in r]
    flagship_id = sign_site(chain.ledger, "flagship")  # the site exists; its id comes from facts
    assert flagship_id[0].name == "flagship"
    with pytest.raises(NotFound):
        dpia(chain.ledger, "nowhere")
    facts = store_facts(chain.ledger)
    assert facts["scope"] == "tenant"


def test_findings_flag_face_cameras_without_signs_and_filing(chain: Chain) -> None:
    with chain.ledger.store.transaction() as s:
        s.execute(update(Camera).where(Camera.name == "door").values(signage_attested=False))
    doc = records_of_processing(chain.ledger)
    assert by_name(doc, "flagship")["signage"]["status"] == "missing"
    assert doc["findings"] == [
        "Site flagship: face-mode camera(s) without signage attestation: door"
    ]


def test_another_tenants_sites_are_not_described(chain: Chain) -> None:
    other = dataclasses.replace(chain.ledger, tenant="globex")
    add_site(other, "elsewhere", "eu")
    add_camera(other, "elsewhere", "cam", "x.mp4", "count", False)
    assert [s["name"] for s in records_of_processing(other)["sites"]] == ["elsewhere"]
    assert records_of_processing(other)["enrolled_people"] == 0
    assert "elsewhere" not in render(records_of_processing(chain.ledger), "md")
    with pytest.raises(NotFound):
        records_of_processing(other, "flagship")


def test_empty_store_and_escaped_names(ledger: Ledger) -> None:
    assert records_of_processing(ledger)["scope"] == "tenant: no sites yet"
    add_site(ledger, "a|b_<c>", "eu")
    md = render(dpia(ledger), "md")
    assert r"a\|b\_\<c\>" in md and "<c>" not in md
    assert "&lt;c&gt;" in render(dpia(ledger), "html")
    assert re.search(r"^\| Site \| Profile \|", md, re.MULTILINE)
