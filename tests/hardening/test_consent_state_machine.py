"""The consent state machine under random sequences (hypothesis): per member, record consent
(open-ended or expiring, site or chain scope), withdraw, try to enrol, let time pass, run the
retention purge; after every step the store must keep the invariants:

* a template rests on a consent of its own member that is not withdrawn, and once the purge has
  run at a given time, every template is covered by a consent active then (and a member who has
  not been seen for the profile's inactivity period has none);
* enrolment succeeds exactly when the member has an active recognition consent;
* withdrawal always leaves zero templates and every consent of the member withdrawn;
* a withdrawn consent is never active again (its withdrawal time never goes away, and the
  ledger never picks it), whatever is recorded after it.

Time is a fake clock that only moves forward from the real one (the store's trigger checks
expiry against the real clock, which the fake one never falls behind). Enrolment uses a fixed
fake face, so a step takes milliseconds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from consentcam.config import load_settings
from consentcam.consent.consents import active_consent, record_consent
from consentcam.consent.context import Ledger, open_ledger
from consentcam.consent.enrolment import enroll
from consentcam.consent.members import add_member
from consentcam.consent.profiles import profile
from consentcam.consent.retention import purge
from consentcam.consent.rights import withdraw
from consentcam.consent.sites import add_site
from consentcam.errors import ConsentError
from consentcam.store.models import Consent, Member, Template
from tests.support.faces import fake_face

pytestmark = pytest.mark.fuzz  # a Hypothesis state machine, run inside a plain test

MEMBERS = 3
JURISDICTION = "eu"
INACTIVITY = dt.timedelta(days=profile(JURISDICTION).template_inactivity_days or 0)


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class MemberModel:
    consents: dict[str, tuple[dt.datetime | None, bool]] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)  # template id -> consent id
    last_seen: dt.datetime | None = None

    def active(self, now: dt.datetime) -> set[str]:
        return {
            cid
            for cid, (expires, withdrawn) in self.consents.items()
            if not withdrawn and (expires is None or expires > now)
        }

    def withdrawn(self) -> set[str]:
        return {cid for cid, (_, withdrawn) in self.consents.items() if withdrawn}


@pytest.fixture(scope="module")
def machine_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    folder = tmp_path_factory.mktemp("consent-machine")
    ledger = open_ledger(load_settings(data_dir=folder, dev=True), "test:machine", create=True)
    yield ledger
    ledger.store.engine.dispose()


def test_consent_state_machine(
    machine_store: Ledger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clock = Clock()
    for clocked in ("consents", "enrolment", "rights"):  # the services that read the time
        monkeypatch.setattr(f"consentcam.consent.{clocked}.utcnow", clock)
    monkeypatch.setattr("consentcam.vision.faces.enrolment_face", fake_face)
    photo = tmp_path / "kiosk.jpg"
    photo.write_bytes(b"the face is faked; only this file's hash is kept")
    evidence = tmp_path / "form.txt"
    evidence.write_text("I consent. Signed, A. Member")

    class ConsentMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            clock.now = max(clock.now, dt.datetime.now(dt.UTC))
            self.ledger = dataclasses.replace(machine_store, tenant=f"m-{uuid.uuid4().hex[:10]}")
            add_site(self.ledger, "shop", JURISDICTION)
            self.ids = [add_member(self.ledger, "shop", f"M{i}").id for i in range(MEMBERS)]
            self.model = {m: MemberModel() for m in self.ids}
            self.purged_at: dt.datetime | None = None

        @rule(
            who=st.integers(0, MEMBERS - 1),
            hours=st.none() | st.integers(1, 24 * 800),
            chain=st.booleans(),
        )
        def record(self, who: int, hours: int | None, chain: bool) -> None:
            member = self.ids[who]
            expires = None if hours is None else clock.now + dt.timedelta(hours=hours)
            consent = record_consent(
                self.ledger,
                member,
                purpose="recognition",
                evidence=evidence,
                expires=expires,
                chain_scope=chain,
            )
            self.model[member].consents[consent.id] = (expires, False)

        @rule(who=st.integers(0, MEMBERS - 1))
        def enrol(self, who: int) -> None:
            member = self.ids[who]
            model = self.model[member]
            before = self._templates(member)
            if model.active(clock.now):
                enroll(self.ledger, member, [photo])
                (new,) = set(self._templates(member)) - set(before)
                consent = self._templates(member)[new]
                assert consent in model.active(clock.now), "enrolled under an inactive consent"
                model.templates[new] = consent
                model.last_seen = clock.now
            else:
                with pytest.raises(ConsentError):
                    enroll(self.ledger, member, [photo])
                assert self._templates(member) == before

        @rule(who=st.integers(0, MEMBERS - 1))
        def withdraw(self, who: int) -> None:
            member = self.ids[who]
            model = self.model[member]
            receipt = withdraw(self.ledger, member)
            assert receipt.deleted_templates == len(model.templates)
            assert receipt.withdrawn_consents == len(model.consents) - len(model.withdrawn())
            model.consents = {cid: (exp, True) for cid, (exp, _) in model.consents.items()}
            model.templates.clear()
            assert self._templates(member) == {}

        @rule(hours=st.integers(1, 24 * 400))
        def wait(self, hours: int) -> None:
            clock.now += dt.timedelta(hours=hours)

        @rule()
        def run_purge(self) -> None:
            purge(self.ledger, now=clock.now)
            self.purged_at = clock.now
            for model in self.model.values():
                if model.last_seen is not None and model.last_seen < clock.now - INACTIVITY:
                    model.templates.clear()
                live = model.active(clock.now)
                model.templates = {t: c for t, c in model.templates.items() if c in live}

        @invariant()
        def store_matches_the_model(self) -> None:
            with self.ledger.store.transaction() as s:
                for member_id, model in self.model.items():
                    member = s.get(Member, member_id)
                    assert member is not None
                    templates = self._templates(member_id, s)
                    assert templates == model.templates
                    consents = {
                        c.id: c
                        for c in s.execute(select(Consent).where(Consent.member_id == member_id))
                        .scalars()
                        .all()
                    }
                    assert set(consents) == set(model.consents)
                    for cid in model.withdrawn():
                        assert consents[cid].withdrawn_at is not None, "a withdrawal was undone"
                    for cid in templates.values():
                        assert consents[cid].withdrawn_at is None, "template of a withdrawal"
                    active = active_consent(s, member, clock.now)
                    live = model.active(clock.now)
                    assert (active is None) == (not live)
                    assert active is None or active.id in live
                    if self.purged_at == clock.now:
                        assert set(templates.values()) <= live

        def _templates(self, member_id: str, s: object = None) -> dict[str, str]:
            query = select(Template.id, Template.consent_id).where(Template.member_id == member_id)
            if s is not None:
                return dict(s.execute(query).all())  # type: ignore[attr-defined]
            with self.ledger.store.transaction() as session:
                return dict(session.execute(query).all())

    run_state_machine_as_test(
        ConsentMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
