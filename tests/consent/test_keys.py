from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from consentcam.audit.chain import verify
from consentcam.consent.consents import record_consent
from consentcam.consent.context import Ledger
from consentcam.consent.enrolment import enroll, identify
from consentcam.consent.keys import rotate_keys
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_site
from consentcam.errors import ConfigError, InputError
from consentcam.events.outbox import record_event
from consentcam.events.webhooks import (
    SIGNATURE_HEADER,
    add_webhook,
    deliver_due,
    open_secret,
    verify_signature,
)
from consentcam.store import crypto
from consentcam.store.crypto import TemplateKeys
from consentcam.store.models import Template, Webhook, utcnow


def test_rotation_rewraps_templates_and_recognition_still_works(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    add_site(ledger, "flagship", "eu")
    member = add_member(ledger, "flagship", "Member")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    enroll(ledger, member.id, [photos / "obama.jpg", photos / "obama2.jpg"])
    with ledger.store.transaction() as s:
        before = {t.id: t.sealed for t in s.execute(select(Template)).scalars()}

    new_keys = TemplateKeys(os.urandom(32))
    report = rotate_keys(ledger, new_keys)
    assert report.templates_rewrapped == 2 and report.new_key_id == new_keys.key_id

    rotated = dataclasses.replace(ledger, keys=new_keys)
    with rotated.store.transaction() as s:
        after = {t.id: (t.sealed, t.key_id) for t in s.execute(select(Template)).scalars()}
        assert verify(s).ok
    assert after.keys() == before.keys()
    assert all(after[t][0] != before[t] and after[t][1] == new_keys.key_id for t in before)
    assert identify(rotated, photos / "obama3.jpg", "flagship").member_id == member.id
    assert identify(rotated, photos / "biden.jpg", "flagship").member_id is None
    with pytest.raises(InputError, match="not the loaded key"):
        identify(ledger, photos / "obama3.jpg", "flagship")  # the old key opens nothing


def test_rotating_to_the_same_key_is_refused(ledger: Ledger) -> None:
    with pytest.raises(InputError, match="key in use"):
        rotate_keys(ledger, ledger.keys)


def test_rotation_reseals_webhook_secrets(ledger: Ledger) -> None:
    site = add_site(ledger, "flagship", "eu")
    hook, secret = add_webhook(ledger, "https://staff.example.com/hook")
    with ledger.store.transaction() as s:
        before = s.get(Webhook, hook.id)
        assert before is not None

    new_keys = TemplateKeys(os.urandom(32))
    report = rotate_keys(ledger, new_keys)
    assert report.webhook_secrets_resealed == 1

    rotated = dataclasses.replace(ledger, keys=new_keys)
    with rotated.store.transaction() as s:
        after = s.get(Webhook, hook.id)
        assert after is not None and verify(s).ok
        record_event(
            s,
            tenant_id=site.tenant_id,
            site_id=site.id,
            camera_id=None,
            member_id=None,
            kind="system.test",
            payload={},
            at=utcnow(),
        )
    assert after.key_id == new_keys.key_id and after.secret_sealed != before.secret_sealed
    assert open_secret(new_keys, after) == secret.encode()
    with pytest.raises(ConfigError, match="does not open"):
        open_secret(ledger.keys, after)  # the old key opens nothing

    sent: list[httpx.Request] = []

    def accept(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    transport = httpx.MockTransport(accept)
    now = utcnow() + dt.timedelta(seconds=1)
    with httpx.Client(transport=transport) as client:
        assert deliver_due(rotated, client, now=now).delivered == 1
    # The receiver still verifies with the secret it was given before the rotation.
    assert verify_signature(
        secret.encode(), sent[0].headers[SIGNATURE_HEADER], sent[0].content, now.timestamp()
    )


def _reseal_unbound(ledger: Ledger) -> None:
    """What a store from before seals named their member holds: the same vector sealed with
    the older associated data (tenant, template, model)."""
    with ledger.store.transaction() as s:
        for t in s.execute(select(Template)).scalars():
            aad = crypto.template_aad(t.tenant_id, t.id, t.member_id)
            vector = crypto.open_sealed(ledger.keys, t.sealed, aad)
            t.sealed = crypto.seal(
                ledger.keys, vector, crypto.unbound_template_aad(t.tenant_id, t.id)
            )


def test_an_upgraded_stores_unbound_templates_are_bound_by_rotation(
    ledger: Ledger, photos: Path, evidence: Path, caplog: pytest.LogCaptureFixture
) -> None:
    add_site(ledger, "flagship", "eu")
    member = add_member(ledger, "flagship", "Member")
    record_consent(ledger, member.id, purpose="recognition", evidence=evidence)
    enroll(ledger, member.id, [photos / "obama.jpg"])
    _reseal_unbound(ledger)

    # Never used for recognition while unbound, and the operator is told what to run.
    assert identify(ledger, photos / "obama2.jpg", "flagship").member_id is None
    assert "run 'consentcam keys rotate' once" in caplog.text

    new_keys = TemplateKeys(os.urandom(32))
    report = rotate_keys(ledger, new_keys)
    assert report.templates_rewrapped == 1 and report.templates_bound_to_member == 1
    rotated = dataclasses.replace(ledger, keys=new_keys)
    assert identify(rotated, photos / "obama2.jpg", "flagship").member_id == member.id


def test_a_template_that_opens_neither_way_stops_the_rotation(
    ledger: Ledger, photos: Path, evidence: Path
) -> None:
    add_site(ledger, "flagship", "eu")
    members = [add_member(ledger, "flagship", f"Member {i}") for i in range(2)]
    for m in members:
        record_consent(ledger, m.id, purpose="recognition", evidence=evidence)
    enroll(ledger, members[0].id, [photos / "obama.jpg"])
    with ledger.store.transaction() as s:  # moved to another member by a database writer
        template = s.execute(select(Template)).scalar_one()
        before = template.sealed
        template.member_id = members[1].id
    with pytest.raises(InputError, match=r"does not open with the key in use.*nothing was rotated"):
        rotate_keys(ledger, TemplateKeys(os.urandom(32)))
    with ledger.store.transaction() as s:
        assert s.execute(select(Template.sealed)).scalar_one() == before
