"""Verbs for users and API tokens: user add, list, change, reset-password, disable, enable,
remove, token, tokens, revoke. Thin over ``consentcam.auth``; every verb works in ``--tenant``
(default: the default tenant). The tenant's last active owner cannot be removed, disabled or
given another role (``auth.users``).

Passwords are read from ``--password-file``, the CONSENTCAM_PASSWORD environment variable or a
hidden prompt (twice), never from the command line, where other local users and the shell
history would see them.

The library is imported inside each command, not at the top: every command's module loads at each
start of the CLI, ``--help`` included (see ``consentcam.cli``). The exceptions, ``auth.tokens`` and
``consent.context``, give the options' defaults and bounds (``DEFAULT_DAYS``, ``DEFAULT_TENANT``),
and bring SQLAlchemy to every start until those constants have a lighter home.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from consentcam.auth.roles import ROLES
from consentcam.auth.tokens import DEFAULT_DAYS, MAX_DAYS
from consentcam.cli.common import State, cli_ledger, emit, json_option, print_json
from consentcam.consent.context import DEFAULT_TENANT, Ledger
from consentcam.errors import InputError

if TYPE_CHECKING:
    from consentcam.auth.tokens import TokenInfo
    from consentcam.auth.users import UserInfo

PASSWORD_ENV = "CONSENTCAM_PASSWORD"


def tenant_option(func: Any) -> Any:
    return click.option(
        "--tenant",
        default=DEFAULT_TENANT,
        show_default=True,
        help="Tenant (the company) the user belongs to.",
    )(func)


def sites_option(func: Any) -> Any:
    return click.option(
        "--site",
        "sites",
        multiple=True,
        help="Confine to this site (repeatable); without it: every site of the tenant.",
    )(func)


def _tenant_ledger(state: State, tenant: str) -> Ledger:
    return dataclasses.replace(cli_ledger(state), tenant=tenant)


def _password(password_file: Path | None) -> str:
    if password_file is not None:
        # One trailing line break is the file's, not the password's.
        return password_file.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise InputError(
            f"no password: give --password-file FILE or {PASSWORD_ENV}, or run in a terminal"
        )
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group(epilog="Example: consentcam user add alice --role owner")
def user() -> None:
    """Users of the dashboard and the API (roles owner, admin, staff, auditor, kiosk)."""


@user.command(
    "add",
    epilog="""\b
Examples:
  consentcam user add alice --role owner
  consentcam user add bob --role staff --site flagship --password-file bob.txt""",
)
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may do.")
@sites_option
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"File holding the password (else {PASSWORD_ENV}, else a prompt). 12+ characters.",
)
@tenant_option
@json_option
@click.pass_obj
def user_add(
    state: State,
    name: str,
    role: str,
    sites: tuple[str, ...],
    password_file: Path | None,
    tenant: str,
    as_json: bool,
) -> None:
    """Add a user with a password (argon2id-hashed; never stored or logged in clear)."""
    from consentcam.auth.users import add_user

    password = _password(password_file)
    added = add_user(_tenant_ledger(state, tenant), name, role, password, list(sites) or None)
    document = {"user_id": added.id, "name": added.name, "role": added.role, "tenant": tenant}
    emit(as_json, document, f"user {added.name} ({added.role}) added: {added.id}")


@user.command("list", epilog="Example: consentcam user list --json")
@tenant_option
@json_option
@click.pass_obj
def user_list(state: State, tenant: str, as_json: bool) -> None:
    """List the tenant's users with their roles and sites."""
    from consentcam.auth.users import list_users

    users = list_users(_tenant_ledger(state, tenant))
    if as_json:
        print_json({"tenant": tenant, "users": [_user_document(u) for u in users]})
        return
    for u in users:
        sites = "all sites" if u.sites is None else ", ".join(u.sites)
        state_text = "disabled" if u.disabled else "active"
        click.echo(f"{u.name}\t{u.role}\t{state_text}\t{sites}")


@user.command("disable", epilog="Example: consentcam user disable bob")
@click.argument("name")
@tenant_option
@json_option
@click.pass_obj
def user_disable(state: State, name: str, tenant: str, as_json: bool) -> None:
    """Disable a user: their sessions end and their API tokens stop working."""
    from consentcam.auth.users import disable_user

    disabled = disable_user(_tenant_ledger(state, tenant), name)
    emit(as_json, {"user_id": disabled.id, "disabled": True}, f"user {name} disabled")


@user.command(
    "change",
    epilog="""\b
Examples:
  consentcam user change bob --role admin
  consentcam user change bob --site north --site south
  consentcam user change bob --all-sites""",
)
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), help="New role [unchanged].")
@sites_option
@click.option("--all-sites", is_flag=True, help="Every site of the tenant, now and later.")
@tenant_option
@json_option
@click.pass_obj
def user_change(
    state: State,
    name: str,
    role: str | None,
    sites: tuple[str, ...],
    all_sites: bool,
    tenant: str,
    as_json: bool,
) -> None:
    """Change a user's role and/or sites; their sessions and tokens follow at once."""
    from consentcam.auth.users import KEEP, change_user

    if all_sites and sites:
        raise InputError("give --site or --all-sites, not both")
    site_names = None if all_sites else (list(sites) if sites else KEEP)
    changed = change_user(_tenant_ledger(state, tenant), name, role=role, site_names=site_names)
    sites_text = "all sites" if changed.sites is None else ", ".join(changed.sites)
    emit(as_json, _user_document(changed), f"user {name}: {changed.role}, {sites_text}")


@user.command("reset-password", epilog="Example: consentcam user reset-password bob")
@click.argument("name")
@tenant_option
@json_option
@click.pass_obj
def user_reset_password(state: State, name: str, tenant: str, as_json: bool) -> None:
    """Give a user a new generated password, printed once; their sessions end."""
    from consentcam.auth.users import reset_password

    password = reset_password(_tenant_ledger(state, tenant), name)
    if as_json:
        print_json({"name": name, "password": password})
        return
    click.echo(password)
    click.echo(f"new password of {name}; hand it over now, it is not shown again", err=True)


@user.command("enable", epilog="Example: consentcam user enable bob")
@click.argument("name")
@tenant_option
@json_option
@click.pass_obj
def user_enable(state: State, name: str, tenant: str, as_json: bool) -> None:
    """Enable a disabled user again."""
    from consentcam.auth.users import enable_user

    enabled = enable_user(_tenant_ledger(state, tenant), name)
    emit(as_json, {"user_id": enabled.id, "disabled": False}, f"user {name} enabled")


@user.command("remove", epilog="Example: consentcam user remove bob")
@click.argument("name")
@tenant_option
@json_option
@click.pass_obj
def user_remove(state: State, name: str, tenant: str, as_json: bool) -> None:
    """Remove a user with their sessions and tokens (the audit log keeps their name)."""
    from consentcam.auth.users import remove_user

    removed = remove_user(_tenant_ledger(state, tenant), name)
    emit(as_json, {"user_id": removed.id, "removed": True}, f"user {name} removed")


@user.command(
    "token",
    epilog="""\b
Example:
  consentcam user token bob --label 'till 3 tablet' --role staff --site flagship --days 30""",
)
@click.argument("name")
@click.option("--label", required=True, help="What the token is for (shown in the audit log).")
@click.option(
    "--role", type=click.Choice(ROLES), help="Role of the token (at most the user's) [the user's]."
)
@sites_option
@click.option(
    "--days",
    type=click.IntRange(1, MAX_DAYS),
    default=DEFAULT_DAYS,
    show_default=True,
    help="Days until the token expires.",
)
@tenant_option
@json_option
@click.pass_obj
def user_token(
    state: State,
    name: str,
    label: str,
    role: str | None,
    sites: tuple[str, ...],
    days: int,
    tenant: str,
    as_json: bool,
) -> None:
    """Issue an API token for a user and print it once (only its hash is stored)."""
    from consentcam.auth.tokens import issue_token

    issued = issue_token(
        _tenant_ledger(state, tenant),
        name,
        label,
        role=role,
        site_names=list(sites) or None,
        days=days,
    )
    if as_json:
        print_json(
            {
                "token": issued.token,
                "token_id": issued.id,
                "prefix": issued.prefix,
                "user": issued.user,
                "label": issued.label,
                "role": issued.role,
                "sites": list(sites) or None,
                "expires_at": issued.expires_at.isoformat(),
            }
        )
        return
    click.echo(issued.token)
    click.echo(
        f"token {issued.prefix} ({issued.role}) for {issued.user}, expires "
        f"{issued.expires_at:%Y-%m-%d}; store it now, it is not shown again",
        err=True,
    )


@user.command("tokens", epilog="Example: consentcam user tokens --json")
@tenant_option
@json_option
@click.pass_obj
def user_tokens(state: State, tenant: str, as_json: bool) -> None:
    """List the tenant's API tokens, newest first (never their secrets)."""
    from consentcam.auth.tokens import list_tokens
    from consentcam.store.models import utcnow

    now = utcnow()
    tokens = list_tokens(_tenant_ledger(state, tenant))
    if as_json:
        print_json({"tenant": tenant, "tokens": [_token_document(t, now) for t in tokens]})
        return
    for t in tokens:
        sites = "the user's sites" if t.sites is None else ", ".join(t.sites)
        click.echo(f"{t.prefix}\t{t.user}\t{t.role}\t{t.state(now)}\t{t.label}\t{sites}")


@user.command("revoke", epilog="Example: consentcam user revoke Ab3dE5gH7jK9")
@click.argument("token_ref", metavar="TOKEN")
@tenant_option
@json_option
@click.pass_obj
def user_revoke(state: State, token_ref: str, tenant: str, as_json: bool) -> None:
    """Revoke an API token, named by its prefix or id."""
    from consentcam.auth.tokens import revoke_token

    revoked = revoke_token(_tenant_ledger(state, tenant), token_ref)
    emit(as_json, {"token_id": revoked.id, "revoked": True}, f"token {revoked.prefix} revoked")


def _user_document(u: UserInfo) -> dict[str, Any]:
    return {
        "user_id": u.id,
        "name": u.name,
        "role": u.role,
        "sites": u.sites,
        "disabled": u.disabled,
        "created_at": u.created_at.isoformat(),
    }


def _token_document(t: TokenInfo, now: dt.datetime) -> dict[str, Any]:
    def iso(value: dt.datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "token_id": t.id,
        "prefix": t.prefix,
        "user": t.user,
        "label": t.label,
        "role": t.role,
        "sites": t.sites,
        "state": t.state(now),
        "created_at": t.created_at.isoformat(),
        "expires_at": iso(t.expires_at),
        "last_used_at": iso(t.last_used_at),
        "revoked_at": iso(t.revoked_at),
    }


COMMANDS: list[click.Command] = [user]
