"""Tracking faces across frames, and anonymous footfall counted from the tracks."""

from consentcam.track.footfall import FootfallCounter, FootfallCounts
from consentcam.track.tracker import TrackedBox, Tracker, TrackUpdate, make_tracker

__all__ = [
    "FootfallCounter",
    "FootfallCounts",
    "TrackUpdate",
    "TrackedBox",
    "Tracker",
    "make_tracker",
]
