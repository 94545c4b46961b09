"""Roles and what each may do: the one table every API route is checked against.

- owner: everything in the tenant, users and tokens included.
- admin: runs the stores: sites, cameras, webhooks, members, consent, enrolment, purchases,
  members' rights requests (export, rectification, erasure), and the people and tokens at or
  below their own role (``access:write``; never an owner: see ``may_grant``).
- staff: on the shop floor: live alerts and the member card, door confirmations, claims,
  footfall, member lookup; no export, no configuration.
- auditor: reads the audit log, compliance pages, exports and calibration; changes nothing.
- kiosk: the consent kiosk: shows notices, records consent, enrols, withdraws, opens claims.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("owner", "admin", "staff", "auditor", "kiosk")

PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(
        {
            "sites:read",
            "sites:write",
            "cameras:write",
            "webhooks:write",
            "members:read",
            "members:write",
            "consent:write",
            "enrol",
            "withdraw",
            "export",
            "rectify",
            "erase",
            "claims:write",
            "purchases:write",
            "events:read",
            "events:confirm",
            "footfall:read",
            "calibration:read",
            "compliance:read",
            # Users and tokens at or below the caller's role (may_grant), whole tenant only.
            "access:write",
        }
    ),
    "staff": frozenset(
        {
            "sites:read",
            "members:read",
            "claims:write",
            "events:read",
            "events:confirm",
            "footfall:read",
        }
    ),
    "auditor": frozenset(
        {
            "sites:read",
            "members:read",
            "export",
            "footfall:read",
            "calibration:read",
            "audit:read",
            "compliance:read",
        }
    ),
    "kiosk": frozenset(
        {"sites:read", "members:write", "consent:write", "enrol", "withdraw", "claims:write"}
    ),
}
# The owner can do all an admin can, and manage owners too (users:write), read the tenant and
# the audit log.
PERMISSIONS["owner"] = PERMISSIONS["admin"] | {"tenant:read", "users:write", "audit:read"}
# A token or user may be given a role only at or below its own.
RANK = {"owner": 4, "admin": 3, "auditor": 2, "staff": 2, "kiosk": 1}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user through a session cookie or a scoped API token."""

    user_id: str
    user: str
    tenant: str
    tenant_id: str
    role: str
    site_ids: frozenset[str] | None  # None: every site of the tenant
    via: str  # "session" or "token"

    @property
    def actor(self) -> str:
        """The name the audit log records."""
        return f"user:{self.user}@{self.tenant}"

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]

    def covers(self, site_id: str) -> bool:
        return self.site_ids is None or site_id in self.site_ids


def may_grant(granter: str, role: str) -> bool:
    """Whether a ``granter`` may create a user or token with ``role`` (never above its own;
    auditor and staff are peers, neither grants the other)."""
    if granter == "owner":
        return True
    return role == granter or RANK[role] < RANK[granter]
