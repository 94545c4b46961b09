"""Tenants are confined: a ledger working for one tenant cannot see or touch another's sites,
cameras or members, and both may use the same names."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger
from consentcam.consent.members import add_member
from consentcam.consent.rights import export_member, withdraw
from consentcam.consent.sites import add_camera, add_site
from consentcam.errors import InputError, NotFound
from consentcam.events.claims import open_claim
from consentcam.pipeline.camera import camera_context


def test_tenants_do_not_see_each_other(ledger: Ledger, evidence: Path) -> None:
    acme = replace(ledger, tenant="acme")
    globex = replace(ledger, tenant="globex")
    add_site(acme, "main", "eu")
    add_site(globex, "main", "eu")  # the same name in another tenant is another site
    add_camera(acme, "main", "kiosk", "k.mp4", "verify", True)
    member = add_member(acme, "main", "Ada")
    record_consent(acme, member.id, purpose="recognition", evidence=evidence)

    for call in (
        lambda: export_member(globex, member.id),
        lambda: withdraw(globex, member.id),
        lambda: record_consent(globex, member.id, purpose="recognition", evidence=evidence),
        lambda: camera_context(globex, "kiosk"),
        lambda: open_claim(globex, "kiosk", member.id),
    ):
        with pytest.raises(NotFound):
            call()
    add_camera(globex, "main", "kiosk", "k.mp4", "verify", True)
    with pytest.raises(NotFound):
        open_claim(globex, "kiosk", member.id)  # globex's kiosk, acme's member
    assert export_member(acme, member.id).member.id == member.id
    assert open_claim(acme, "kiosk", member.id).member_id == member.id


def test_another_tenant_cannot_confirm_a_door_event(ledger: Ledger) -> None:
    from consentcam.events.outbox import record_event
    from consentcam.events.staff import confirm_event
    from consentcam.store.models import utcnow

    acme = replace(ledger, tenant="acme")
    site = add_site(acme, "main", "eu")
    member = add_member(acme, "main", "Ada")
    with acme.store.transaction() as s:
        event = record_event(
            s,
            tenant_id=site.tenant_id,
            site_id=site.id,
            camera_id=None,
            member_id=member.id,
            kind="recognition",
            payload={"camera": "door"},
            at=utcnow(),
            status="pending",
        )
    with pytest.raises(NotFound):
        confirm_event(replace(ledger, tenant="globex"), event.id)
    assert confirm_event(acme, event.id)["status"] == "confirmed"


def test_webhooks_and_purchase_imports_stay_in_their_tenant(ledger: Ledger, tmp_path: Path) -> None:
    from consentcam.consent.purchases import import_purchases
    from consentcam.events.webhooks import add_webhook, list_webhooks, remove_webhook

    acme = replace(ledger, tenant="acme")
    globex = replace(ledger, tenant="globex")
    add_site(acme, "main", "eu")
    member = add_member(acme, "main", "Ada")
    hook, _secret = add_webhook(acme, "https://hooks.acme.example/in")

    assert list_webhooks(globex) == []
    with pytest.raises(NotFound):
        remove_webhook(globex, hook.id)
    assert [w.id for w in list_webhooks(acme)] == [hook.id]

    pos = tmp_path / "pos.csv"
    pos.write_text(
        f"member_id,time,items,amount,currency\n{member.id},2026-11-30T10:00:00Z,tea,2.50,EUR\n"
    )
    with pytest.raises(InputError, match="unknown member"):
        import_purchases(globex, pos)  # acme's member is no member of globex's
    assert export_member(acme, member.id).purchases == ()
    assert import_purchases(acme, pos) == {"rows": 1, "members": 1}
    assert len(export_member(acme, member.id).purchases) == 1
