"""No member PII in logs: a member's name, profile values and purchased items reach staff (events,
the member card, exports) but never a log record (captured at DEBUG), the CLI's stderr or the
audit log, which outlive erasure. Ids are pseudonymous and may be logged.

The flow: enrol a member with a distinctive name and profile, import their purchases with the
CLI, run the door camera over a clip in which they walk past a bystander (``watch`` through the
CLI, then the library's worker again), and read the member card, export, member list and event
history through the API.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consentcam.api.app import create_app
from consentcam.auth.tokens import issue_token
from consentcam.auth.users import add_user
from consentcam.config import Settings
from consentcam.consent.consents import record_consent
from consentcam.consent.context import DEV_KEY_FILE, open_ledger
from consentcam.consent.enrolment import enroll
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_camera, add_site
from consentcam.pipeline.clips import ClipTruth
from consentcam.pipeline.worker import process_video
from consentcam.store.crypto import KEY_ENV, KEY_FILE_ENV
from tests.support.auth import PASSWORD, bearer, use_fast_hashing
from tests.support.clients import TestClient
from tests.support.leaks import assert_absent, audit_text, events_text, log_text

Run = Callable[..., tuple[int, str, str]]
API = "/api/v1"
NAME = "Wilhelmina Quartermaine"
PROFILE = {"tier": "Obsidian-Kestrel", "phone": "+44 7700 900417", "note": "prefers oolong tea"}
ITEMS = ("saffron-macaron", "yuzu-kombucha")


def _pii() -> dict[str, str]:
    return (
        {"name": NAME}
        | {f"profile {k}": v for k, v in PROFILE.items()}
        | {f"item {i}": item for i, item in enumerate(ITEMS)}
    )


def test_member_pii_reaches_staff_but_no_log(
    store_settings: Settings,
    run_cli: Run,
    photos: Path,
    evidence: Path,
    two_people_clip: tuple[Path, ClipTruth],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    use_fast_hashing(monkeypatch)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    monkeypatch.delenv(KEY_ENV, raising=False)
    # Small frames: faces need detection at full scale (as in tests/pipeline).
    settings = store_settings.model_copy(
        update={"pipeline": store_settings.pipeline.model_copy(update={"detect_scale": 1.0})}
    )
    ledger = open_ledger(settings, "test:security", create=True)
    add_site(ledger, "shop", "eu")
    member = add_member(ledger, "shop", NAME, dict(PROFILE))
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    enroll(ledger, member.id, [photos / "obama.jpg"])
    add_camera(ledger, "shop", "door-1", str(two_people_clip[0]), "door", True)

    # The CLI opens the same store with the same key, and the same pipeline settings.
    monkeypatch.setenv(KEY_ENV, (settings.data_dir / DEV_KEY_FILE).read_text().strip())
    monkeypatch.setenv("CONSENTCAM_PIPELINE__DETECT_SCALE", "1.0")
    monkeypatch.setenv("CONSENTCAM_ACTOR", "test:security")
    store_args = ["--data-dir", str(settings.data_dir)]
    if settings.database_url:
        store_args += ["--db-url", settings.database_url]
    errs: list[str] = []

    def cli(*args: str) -> str:
        code, out, err = run_cli(*store_args, *args)
        errs.append(err)
        assert code == 0, err
        return out

    csv = tmp_path / "pos.csv"
    csv.write_text(
        "member_id,time,items,amount,currency\n"
        f"{member.id},2026-11-02T10:15:00+01:00,{ITEMS[0]};{ITEMS[1]},7.40,EUR\n"
        f"{member.id},2026-11-09T16:40:00+01:00,{ITEMS[1]},3.10,EUR\n"
    )
    assert json.loads(cli("purchases", "import", str(csv), "--json"))["rows"] == 2

    lines = [json.loads(line) for line in cli("watch", "door-1", "--json").splitlines()]
    alerts = [e for e in lines if e.get("kind") == "recognition"]
    assert [e["member_id"] for e in alerts] == [member.id], "the member was recognised"
    assert alerts[0]["payload"]["member"]["name"] == NAME, "staff see the name in the alert"
    assert set(alerts[0]["payload"]["purchases"]["top_items"][0].values()) & set(ITEMS)

    again = settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"cooldown_s": 0.0})}
    )
    run = process_video(ledger, "door-1", settings=again)
    assert [e["member_id"] for e in run.events] == [member.id]

    add_user(ledger, "olga", "owner", PASSWORD)
    token = bearer(issue_token(ledger, "olga", "reads").token)
    with TestClient(create_app(settings)) as client:
        read: list[Any] = [
            client.get(f"{API}/members/{member.id}", headers=token),
            client.get(f"{API}/members/{member.id}/export", headers=token),
            client.get(f"{API}/sites/shop/members", headers=token),
            client.get(f"{API}/events", params={"after": 0}, headers=token),
        ]
    assert [r.status_code for r in read] == [200] * 4
    assert all(NAME in r.text for r in read), "the API shows staff the member"

    assert NAME in events_text(ledger), "events carry the member card by design"
    assert_absent(
        _pii(),
        {"logs": log_text(caplog), "CLI stderr": "".join(errs), "audit": audit_text(ledger)},
    )
