"""Benchmarks that print ratios measured side by side in one run; run from the repo root as ``python -m bench.<name>``."""
