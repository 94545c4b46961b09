"""Evaluation on public benchmarks: LFW View 2 verification and an LFW open-set protocol."""
