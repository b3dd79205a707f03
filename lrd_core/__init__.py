"""lrd_core: the science behind the long-range-dependency dashboard.

Pure Python + PyTorch: no Streamlit, no module-level mutable state, every
random draw from an explicit seed or ``torch.Generator``.
"""
