"""Settings of the pipeline tests, shared by their fixtures and by tests that build their own."""

from __future__ import annotations

# Small frames keep the tests fast; at this size faces need detection at full scale.
TEST_PIPELINE = {"detect_scale": 1.0}
