"""Scoring and deciding, kept apart: ``distances`` measure, ``decide`` applies a threshold."""

from consentcam.match.scores import Match, decide, distances, search, similarities

__all__ = ["Match", "decide", "distances", "search", "similarities"]
