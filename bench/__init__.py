"""Benchmarks that print ratios measured side by side in one run.

Run from the repo root as ``python -m bench.<name>``.
"""
