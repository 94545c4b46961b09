"""consentcam: consent-first face recognition for shops and venues.

Importing the package is cheap: models load on first use, not at import.
"""

from __future__ import annotations

from consentcam.errors import (
    ConfigError,
    ConsentcamError,
    ConsentError,
    DependencyError,
    InputError,
    NotFound,
    PolicyError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConsentError",
    "ConsentcamError",
    "DependencyError",
    "InputError",
    "NotFound",
    "PolicyError",
    "__version__",
]
