"""Rendering of the compliance documents: each document dict becomes an ``Outline`` (title,
metadata, sections with paragraphs, bullets, fields and tables), and one pair of renderers turns
any outline into Markdown or a self-contained, printable HTML page."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html import escape
from typing import Any

from consentcam.errors import InputError
from consentcam.signage.content import duration

FORMATS = ("md", "html", "json")


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    bullets: tuple[str, ...] = ()
    table: Table | None = None
    subsections: tuple[Section, ...] = ()


@dataclass(frozen=True, slots=True)
class Outline:
    title: str
    banner: str | None  # shown first and loud: the DPIA's DRAFT notice
    meta: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]


def render(document: dict[str, Any], fmt: str) -> str:
    """``document`` (from ``records_of_processing`` or ``dpia``) as Markdown, HTML or JSON."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    outline = OUTLINES[document["document"]](document)
    return render_markdown(outline) if fmt == "md" else render_html(outline)


def ropa_outline(doc: dict[str, Any]) -> Outline:
    activities = tuple(
        Section(
            heading=a["name"].capitalize(),
            fields=tuple(
                (label, _value(a[key]))
                for label, key in (
                    ("Purpose", "purpose"),
                    ("Legal basis", "legal_basis"),
                    ("Data subjects", "data_subjects"),
                    ("Categories of data", "data_categories"),
                    ("Retention", "retention"),
                    ("Sites", "sites"),
                )
            ),
        )
        for a in doc["activities"]
    )
    return Outline(
        title="Record of processing activities",
        banner=None,
        meta=_meta(doc),
        sections=(
            Section("Processing activities", subsections=activities),
            Section("Sites", table=_sites_table(doc["sites"])),
            Section(
                "Enrolled people",
                paragraphs=(
                    f"{doc['enrolled_people']} people with a stored template in the tenant.",
                ),
            ),
            Section("Recipients", bullets=tuple(doc["recipients"])),
            Section("Transfers", paragraphs=(doc["transfers"],)),
            Section(
                "Security measures",
                bullets=tuple(doc["security_measures"]),
                paragraphs=(
                    f"Template key id: {doc['template_key_id']}; audit entries: "
                    f"{doc['audit_entries']}.",
                ),
            ),
            _findings(doc),
        ),
    )


def dpia_outline(doc: dict[str, Any]) -> Outline:
    description = doc["description"]
    return Outline(
        title="Data protection impact assessment (DRAFT)",
        banner=doc["draft_notice"],
        meta=_meta(doc),
        sections=(
            Section(
                "1. Description of the processing (GDPR art. 35(7)(a))",
                fields=tuple(
                    (label, _value(description[key]))
                    for label, key in (
                        ("Nature", "nature"),
                        ("Scope", "scope"),
                        ("Context", "context"),
                        ("Purposes", "purposes"),
                        ("Recipients", "recipients"),
                    )
                ),
                table=_sites_table(doc["sites"]),
            ),
            Section(
                "2. Necessity and proportionality (art. 35(7)(b))",
                bullets=tuple(doc["necessity_and_proportionality"]),
            ),
            Section(
                "3. Risks to the rights and freedoms of data subjects (art. 35(7)(c))",
                table=Table(
                    ("Risk", "Source", "Measures", "Likelihood", "Severity", "Residual risk"),
                    tuple(
                        tuple(
                            r[k]
                            for k in (
                                "risk",
                                "source",
                                "measures",
                                "likelihood",
                                "severity",
                                "residual_risk",
                            )
                        )
                        for r in doc["risks"]
                    ),
                ),
            ),
            Section(
                "4. Measures to address the risks (art. 35(7)(d))",
                subsections=(
                    Section("Technical", bullets=tuple(doc["measures"]["technical"])),
                    Section("Organisational", bullets=tuple(doc["measures"]["organisational"])),
                ),
            ),
            _findings(doc),
            Section("Consultation", fields=_fields(doc["consultation"])),
            Section("Sign-off", fields=_fields(doc["sign_off"])),
        ),
    )


def render_markdown(outline: Outline) -> str:
    lines = [f"# {_md(outline.title)}", ""]
    if outline.banner:
        lines += [f"> **{_md(outline.banner)}**", ""]
    lines += [f"- **{_md(k)}:** {_md(v)}" for k, v in outline.meta] + [""]
    for section in outline.sections:
        lines += _md_section(section, 2)
    return "\n".join(lines).rstrip() + "\n"


def render_html(outline: Outline) -> str:
    banner = f'<p class="banner">{escape(outline.banner)}</p>' if outline.banner else ""
    meta = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in outline.meta)
    body = "".join(_html_section(s, 2) for s in outline.sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(outline.title)}</title>\n<style>{DOC_CSS}</style>\n</head>\n<body>\n"
        f'<h1>{escape(outline.title)}</h1>\n{banner}\n<dl class="meta">{meta}</dl>\n'
        f"{body}\n</body>\n</html>\n"
    )


OUTLINES = {
    "records of processing activities": ropa_outline,
    "data protection impact assessment": dpia_outline,
}
DOC_CSS = """
@page { size: A4; margin: 15mm; }
body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; font-size: 11pt;
  line-height: 1.4; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; color: #000; }
h1 { font-size: 20pt; } h2 { font-size: 15pt; margin-top: 1.6em; } h3 { font-size: 12.5pt; }
.banner { border: 2px solid #b00; color: #b00; font-weight: bold; padding: 0.6em 0.8em; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1em; }
dt { font-weight: bold; } dd { margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: 10pt; }
th, td { border: 1px solid #555; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; }
  tr { break-inside: avoid; } }
"""


def _meta(doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return (
        ("Controller", doc["controller"]["name"]),
        ("Contact", doc["controller"]["contact"]),
        ("Scope", doc["scope"]),
        ("Generated", doc["generated_at"]),
        ("Basis", doc["basis"]),
    )


def _findings(doc: dict[str, Any]) -> Section:
    found = tuple(doc["findings"])
    if not found:
        return Section("Findings", paragraphs=("Nothing in the configuration needs attention.",))
    return Section("Findings", bullets=found)


def _sites_table(sites: list[dict[str, Any]]) -> Table:
    columns = (
        "Site",
        "Profile",
        "Cameras (mode, signage)",
        "Signage",
        "Members",
        "Enrolled",
        "Retention",
        "Filing",
    )
    return Table(columns, tuple(_site_row(s) for s in sites))


def _site_row(s: dict[str, Any]) -> tuple[str, ...]:
    cameras = "; ".join(
        f"{c['name']} ({c['mode']}, {'signs attested' if c['signage_attested'] else 'no signs'})"
        for c in s["cameras"]
    )
    days = s["retention_days"]
    retention = (
        f"templates {duration(days['template_inactivity'] or 0)} after last interaction; "
        f"events {duration(days['events'])}; counts {duration(days['footfall'])}"
    )
    filing = s["filing"]
    filing_text = (
        f"{filing['enrolled_people']:,} of {filing['file_at']:,} (warn at {filing['warn_at']:,}): "
        f"{filing['status']}"
        if filing
        else "n/a"
    )
    return (
        s["name"],
        f"{s['jurisdiction']}: {s['profile']}",
        cameras or "none",
        s["signage"]["status"],
        str(s["members"]),
        str(s["enrolled_members"]),
        retention,
        filing_text,
    )


def _fields(values: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((key.replace("_", " ").capitalize(), str(v)) for key, v in values.items())


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) or "none"
    return str(value)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _md(text: str) -> str:
    """``text`` safe in Markdown: punctuation that would format or inject HTML is escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _md_section(section: Section, level: int) -> list[str]:
    lines = [f"{'#' * level} {_md(section.heading)}", ""]
    for paragraph in section.paragraphs:
        lines += [_md(paragraph), ""]
    if section.fields:
        lines += [f"- **{_md(k)}:** {_md(v)}" for k, v in section.fields] + [""]
    if section.bullets:
        lines += [f"- {_md(b)}" for b in section.bullets] + [""]
    if section.table:
        lines += [*_md_table(section.table), ""]
    for sub in section.subsections:
        lines += _md_section(sub, level + 1)
    return lines


def _md_table(table: Table) -> list[str]:
    def row(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(_md(c) for c in cells) + " |"

    return [row(table.columns), "|" + "---|" * len(table.columns), *(row(r) for r in table.rows)]


def _html_section(section: Section, level: int) -> str:
    parts = [f"<h{level}>{escape(section.heading)}</h{level}>"]
    parts += [f"<p>{escape(p)}</p>" for p in section.paragraphs]
    if section.fields:
        items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in section.fields)
        parts.append(f"<dl>{items}</dl>")
    if section.bullets:
        parts.append("<ul>" + "".join(f"<li>{escape(b)}</li>" for b in section.bullets) + "</ul>")
    if section.table:
        parts.append(_html_table(section.table))
    parts += [_html_section(sub, level + 1) for sub in section.subsections]
    return "<section>" + "".join(parts) + "</section>\n"


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
