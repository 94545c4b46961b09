"""Two requests racing to write the same key (kiosks recording a tenant's first consents, two
staff adding the same site): the database decides, and neither request crashes. Each test holds
the first writer's transaction open, checks that the second writer waits on it, then commits."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consentcam.consent.consents import notice_text, record_consent
from consentcam.consent.context import Ledger
from consentcam.consent.members import add_member
from consentcam.consent.sites import add_site
from consentcam.errors import Conflict
from consentcam.store.models import Consent, Notice, Site, Tenant

WAIT_S = 0.5


class _Writer(threading.Thread):
    """Runs ``call`` on a thread, keeping what it returned or raised."""

    def __init__(self, call: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.call()
        except BaseException as exc:  # handed to the test thread
            self.error = exc


@contextmanager
def _first_writer(ledger: Ledger) -> Iterator[Session]:
    """A session whose transaction the test commits; closed (rolled back if not) at the end."""
    session = ledger.store.sessions()
    try:
        yield session
    finally:
        session.close()


def _second_writer_waits_then_finishes(first: Session, call: Callable[[], Any]) -> _Writer:
    writer = _Writer(call)
    writer.start()
    writer.join(WAIT_S)
    assert writer.is_alive(), "the second writer should wait for the first one's transaction"
    first.commit()
    writer.join(30)
    assert not writer.is_alive()
    return writer


def test_kiosks_recording_first_consents_at_once_share_one_notice(
    ledger: Ledger, evidence: Path
) -> None:
    add_site(ledger, "flagship", "eu")
    member = add_member(ledger, "flagship", "Sample Member")
    with _first_writer(ledger) as first:
        site = first.execute(select(Site)).scalar_one()
        text = notice_text(site.jurisdiction, "v1")
        theirs = Notice(
            tenant_id=site.tenant_id, jurisdiction=site.jurisdiction, version="v1", text=text,
            sha256="0" * 64,
        )  # fmt: skip
        first.add(theirs)
        first.flush()
        writer = _second_writer_waits_then_finishes(
            first,
            lambda: record_consent(ledger, member.id, purpose="recognition", evidence=evidence),
        )
    assert writer.error is None, writer.error
    with ledger.store.transaction() as s:
        assert s.execute(select(func.count()).select_from(Notice)).scalar_one() == 1
        consent = s.execute(select(Consent)).scalar_one()
    # The consent names the notice the other kiosk stored, hash included.
    assert (consent.notice_id, consent.notice_sha256) == (theirs.id, "0" * 64)


def test_the_first_requests_on_a_new_store_at_once_share_one_tenant(ledger: Ledger) -> None:
    with _first_writer(ledger) as first:
        theirs = Tenant(name=ledger.tenant)
        first.add(theirs)
        first.flush()
        writer = _second_writer_waits_then_finishes(
            first, lambda: add_site(ledger, "flagship", "eu")
        )
    assert writer.error is None, writer.error
    with ledger.store.transaction() as s:
        assert s.execute(select(func.count()).select_from(Tenant)).scalar_one() == 1
        assert s.execute(select(Site.tenant_id)).scalar_one() == theirs.id


def test_the_same_site_added_twice_at_once_is_a_conflict_not_a_crash(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")  # the tenant exists; the race is on the second site
    with _first_writer(ledger) as first:
        tenant_id = first.execute(select(Site.tenant_id)).scalar_one()
        first.add(Site(tenant_id=tenant_id, name="annex", jurisdiction="eu"))
        first.flush()
        writer = _second_writer_waits_then_finishes(first, lambda: add_site(ledger, "annex", "eu"))
    assert isinstance(writer.error, Conflict), writer.error
    assert "nothing was stored" in str(writer.error)
    with ledger.store.transaction() as s:
        assert s.execute(select(func.count()).where(Site.name == "annex")).scalar_one() == 1


def test_a_site_name_already_taken_is_a_conflict(ledger: Ledger) -> None:
    add_site(ledger, "flagship", "eu")
    with pytest.raises(Conflict, match="already exists"):
        add_site(ledger, "flagship", "eu")
