"""One exception tree for the whole library.

The CLI maps these to exit codes in exactly one place (``consentcam.cli.main``), and the API will
map them to HTTP errors in exactly one place. Library code raises the most specific class and never
prints or exits.
"""

from __future__ import annotations


class ConsentcamError(Exception):
    """Base class of every error consentcam raises on purpose."""


class InputError(ConsentcamError):
    """The caller gave something unusable: a corrupt image, a bad argument, a malformed file."""


class SourceError(InputError):
    """A camera's source cannot be opened or read: missing file, unsupported format, a stream
    that refuses the connection. The message names the camera."""


class Conflict(InputError):
    """The write collides with what is stored: a name already taken, or the same row written at
    the same moment by another request. Nothing was stored."""


class NotFound(ConsentcamError):
    """A named thing (file, member, site, camera) does not exist."""


class PolicyError(ConsentcamError):
    """The request is well formed but refused by policy (jurisdiction, mode, signage)."""


class ConsentError(PolicyError):
    """The action needs an active consent that does not exist."""


class ConfigError(ConsentcamError):
    """The configuration is invalid or unsafe for this environment."""


class DependencyError(ConsentcamError):
    """An optional dependency or a model file needed for this feature is missing."""


class StoreUnavailable(ConsentcamError):
    """The database cannot be reached or dropped the connection (a server restart, a failover, a
    network outage): not the caller's fault, and the same request may succeed when retried."""


def shown(value: str, limit: int = 40) -> str:
    """``value`` as an error message may quote what a caller sent: at most ``limit``
    characters, quoted as Python's ``repr`` quotes (control, invisible formatting and
    text-direction characters appear as escapes such as ``\\u202e``), with markup characters
    escaped too, so an echoed value can neither reorder, hide nor style the text around it
    (docs/threat-model.md: errors never echo submitted values as they were sent)."""
    quoted = repr(value[:limit])
    for ch in "<>&":
        quoted = quoted.replace(ch, f"\\x{ord(ch):02x}")
    return quoted + ("..." if len(value) > limit else "")
