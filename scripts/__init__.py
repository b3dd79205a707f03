"""Command-line entry points that drive the app (they may import Streamlit; lrd_core never does)."""
