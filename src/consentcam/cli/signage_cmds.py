"""Verbs for printable signs and compliance documents: ``signage SITE`` and ``compliance
ropa|dpia``. Thin over ``consentcam.signage``.

The library is imported inside each command, not at the top: every command's module loads at each
start of the CLI, ``--help`` included (see ``consentcam.cli``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from consentcam.cli.common import State, cli_ledger
from consentcam.errors import InputError

if TYPE_CHECKING:
    from consentcam.consent.profiles import Profile
    from consentcam.signage import SignOptions, SignSite

F = TypeVar("F", bound=Callable[..., None])

MAX_FIELD = 200  # characters of --controller / --contact: a sign has room for a line or two


def _checked_text(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    if not text or len(text) > MAX_FIELD:
        raise click.BadParameter(f"give 1 to {MAX_FIELD} characters", ctx, param)
    return text


def _controller_options(func: F) -> F:
    func = click.option(
        "--contact",
        callback=_checked_text,
        help="How people reach the controller: address, e-mail or phone "
        "[default: a blank line on signs, TO COMPLETE in documents].",
    )(func)
    return click.option(
        "--controller",
        callback=_checked_text,
        help="The company responsible (GDPR controller, PIPL personal information handler) "
        "[default: a blank line on signs, the tenant name in documents].",
    )(func)


def _write(out: Path | None, data: str | bytes, binary: bool) -> None:
    if out is not None:
        try:
            out.write_bytes(data if isinstance(data, bytes) else data.encode())
        except OSError as exc:
            raise InputError(f"{out}: cannot write ({exc.strerror or exc})") from None
        click.echo(f"wrote {out}", err=True)
        return
    if binary and sys.stdout.isatty():
        raise InputError("refusing to write a PDF to the terminal; give --out FILE")
    click.echo(data, nl=False)


@click.command(
    epilog="""\b
Examples:
  consentcam signage flagship --base-url https://shop.example --controller "Acme Retail GmbH" \\
      --contact "privacy@acme.example" --out flagship-sign.html
  consentcam signage flagship --format pdf --base-url https://shop.example --out sign.pdf"""
)
@click.argument("site_name", metavar="SITE")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf"]),
    default="html",
    show_default=True,
    help="Self-contained HTML (prints on any browser) or a one-page PDF.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@_controller_options
@click.option(
    "--base-url",
    help="Public address of this deployment, e.g. https://shop.example: the QR code opens its "
    "kiosk notice page (/kiosk/notice?site=SITE&site_id=ID).",
)
@click.option(
    "--notice-url", help="The full notice's URL instead (absolute, or relative to --base-url)."
)
@click.option(
    "--paper",
    type=click.Choice(["a4", "letter"]),
    help="Paper size [default: letter for US profiles, A4 elsewhere].",
)
@click.option(
    "--cjk-font",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PDF only: a font with Chinese glyphs for the bilingual PIPL sign [default: an "
    "installed one, if fontconfig finds it].",
)
@click.pass_obj
def signage(
    state: State,
    site_name: str,
    fmt: str,
    out: Path | None,
    controller: str | None,
    contact: str | None,
    base_url: str | None,
    notice_url: str | None,
    paper: str | None,
    cjk_font: Path | None,
) -> None:
    """The printable sign for a site under its jurisdiction profile: controller, purpose, what
    is never done, retention, legal basis and rights, how to withdraw, contact, and a QR code
    to the full notice."""
    from consentcam.signage import SignOptions, sign_html, sign_pdf, sign_site

    options = SignOptions(controller, contact, base_url, notice_url, paper, cjk_font)
    site, rules = sign_site(cli_ledger(state), site_name)
    if fmt == "pdf":
        _write(out, sign_pdf(site, rules, options), binary=True)
        _warn_without_cjk(site, rules, options)
    else:
        _write(out, sign_html(site, rules, options), binary=False)
    if controller is None or contact is None:
        click.echo("note: no --controller/--contact: the sign has blank lines to fill in", err=True)


def _warn_without_cjk(site: SignSite, rules: Profile, options: SignOptions) -> None:
    from consentcam.signage.content import sign_content
    from consentcam.signage.fonts import cjk_font
    from consentcam.signage.pdf import needs_cjk

    sign = sign_content(site, rules, options)
    if needs_cjk(sign) and options.cjk_font is None and cjk_font() is None:
        click.echo(
            "note: no Chinese font found: the PDF is English-only; print the HTML sign for the "
            "bilingual version (or give --cjk-font)",
            err=True,
        )


@click.group(epilog="Example: consentcam compliance ropa --format html --out ropa.html")
def compliance() -> None:
    """Compliance documents filled from the configuration: the record of processing
    activities and a DPIA draft."""


def _document_command(name: str, short: str, summary: str, example: str) -> click.Command:
    @compliance.command(name, help=summary, short_help=short, epilog=f"Example: {example}")
    @click.option("--site", "site_name", help="Only this site [default: every site].")
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(["md", "html", "json"]),
        default="md",
        show_default=True,
        help="Markdown, printable HTML or JSON.",
    )
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
    @_controller_options
    @click.pass_obj
    def command(
        state: State,
        site_name: str | None,
        fmt: str,
        out: Path | None,
        controller: str | None,
        contact: str | None,
    ) -> None:
        from consentcam.signage import dpia, records_of_processing, render

        build = records_of_processing if name == "ropa" else dpia
        document = build(cli_ledger(state), site_name, controller, contact)
        _write(out, render(document, fmt), binary=False)

    return command


ropa = _document_command(
    "ropa",
    "Record of processing activities (GDPR art. 30).",
    "The record of processing activities (GDPR art. 30, PIPL art. 55-56): activities, data "
    "categories and subjects, retention per profile, recipients, security measures, and per "
    "site the cameras with mode and signage status and the enrolled-people counters.",
    "consentcam compliance ropa --controller 'Acme Retail GmbH' --format html --out ropa.html",
)
dpia_command = _document_command(
    "dpia",
    "DPIA draft for the privacy officer (GDPR art. 35).",
    "A data protection impact assessment DRAFT (GDPR art. 35 structure: description, "
    "necessity and proportionality, risks, measures) for the privacy officer to complete.",
    "consentcam compliance dpia --site flagship --format md --out dpia.md",
)

COMMANDS = [signage, compliance]
