"""The consent ledger's context: an open store with its keys, actor and tenant (``Ledger``),
how a store's key is found, and the lookups every service uses (tenant, site, camera, member),
each confined to a tenant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from consentcam.config import Settings
from consentcam.errors import InputError, NotFound, shown
from consentcam.store import crypto
from consentcam.store.db import Store, open_store, stored_once
from consentcam.store.models import Camera, Member, Site, Tenant

DEFAULT_TENANT = "default"
DEV_KEY_FILE = "dev-template.key"


@dataclass(frozen=True)
class Ledger:
    """An open store with its keys and the actor every audit entry will name."""

    store: Store
    keys: crypto.TemplateKeys
    actor: str
    settings: Settings
    # The tenant every call works in (and is confined to): the API sets the caller's; the CLI
    # and camera workers use the default tenant of a single-company deployment.
    tenant: str = DEFAULT_TENANT

    def tenant_id(self, session: Session) -> str:
        return tenant_row(session, self.tenant).id


def open_ledger(settings: Settings, actor: str, *, create: bool = False) -> Ledger:
    """Open the store and its template key. A store initialised with ``--dev`` keeps using the
    key generated for it (the key file in its data directory marks it as a development store);
    any other store needs CONSENTCAM_TEMPLATE_KEY or CONSENTCAM_TEMPLATE_KEY_FILE."""
    # A missing store is the first thing to report; but 'init' checks the key before creating
    # anything, so a refused init leaves nothing behind.
    store = None if create else open_store(settings)
    keys = store_keys(settings)
    return Ledger(store or open_store(settings, create=True), keys, actor, settings)


def development_store(settings: Settings) -> bool:
    """Development mode, or a store initialised with ``--dev`` (its key file beside it)."""
    return settings.dev or (
        not settings.database_url and (settings.data_dir / DEV_KEY_FILE).is_file()
    )


def store_keys(settings: Settings) -> crypto.TemplateKeys:
    """The template key from the environment, or a development store's own key file."""
    return crypto.load_keys(
        os.environ, dev=development_store(settings), dev_key_path=settings.data_dir / DEV_KEY_FILE
    )


def tenant_row(session: Session, name: str = DEFAULT_TENANT) -> Tenant:
    """The tenant named ``name``, created on first use."""
    return stored_once(session, Tenant, {"name": name})


def site_by_name(session: Session, name: str, tenant_id: str | None = None) -> Site:
    """A site by name, within ``tenant_id`` when given (another tenant's site is not found)."""
    query = select(Site).where(Site.name == name)
    if tenant_id is not None:
        query = query.where(Site.tenant_id == tenant_id)
    site = session.execute(query).scalar()
    if site is None:
        raise NotFound(f"no site named {shown(name)} (create it with 'consentcam site add')")
    return site


def camera_by_ref(
    session: Session, ref: str, site_name: str | None = None, tenant_id: str | None = None
) -> Camera:
    """A camera by id, or by name (within ``site_name`` when given; a name used at several
    sites needs the site); within ``tenant_id`` when given."""
    query = select(Camera).join(Site, Site.id == Camera.site_id)
    if tenant_id is not None:
        query = query.where(Site.tenant_id == tenant_id)
    if site_name is not None:
        query = query.where(Camera.site_id == site_by_name(session, site_name, tenant_id).id)
    by_id = session.execute(query.where(Camera.id == ref)).scalar()
    if by_id is not None:
        return by_id
    found = session.execute(query.where(Camera.name == ref)).scalars().all()
    if not found:
        where = f" at site {site_name!r}" if site_name else ""
        raise NotFound(f"no camera {ref!r}{where}")
    if len(found) > 1:
        raise InputError(f"several sites have a camera named {ref!r}; name the site (--site)")
    return found[0]


def member_by_id(session: Session, member_id: str, tenant_id: str | None = None) -> Member:
    """A member by id, within ``tenant_id`` when given (another tenant's member is not found)."""
    member = session.get(Member, member_id)
    if member is None or (tenant_id is not None and member.tenant_id != tenant_id):
        raise NotFound(f"no member {shown(member_id)}")
    return member
