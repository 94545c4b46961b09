"""Tracking faces across frames, and anonymous footfall counted from the tracks."""

from consentcam.track.footfall import (
    FootfallCounter,
    FootfallCounts,
    add_footfall,
    footfall_report,
)
from consentcam.track.tracker import TrackedBox, Tracker, TrackUpdate, make_tracker

__all__ = [
    "FootfallCounter",
    "FootfallCounts",
    "TrackUpdate",
    "TrackedBox",
    "Tracker",
    "add_footfall",
    "footfall_report",
    "make_tracker",
]
