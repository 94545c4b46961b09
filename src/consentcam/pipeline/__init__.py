"""Camera pipeline: sources, the per-camera worker and the supervisor."""
