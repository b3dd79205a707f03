"""Sequence models. Contract: batch-first (B, T, D) in, (B, T, H) out."""
