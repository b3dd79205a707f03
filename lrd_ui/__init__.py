"""Streamlit helpers shared by the pages: layout and globals, charts, the live-training panel."""

from lrd_core.runtime.heap import fix_mmap_threshold

fix_mmap_threshold()  # before any page allocates: large tensors go back to the OS when freed (lrd_core.runtime.heap)
