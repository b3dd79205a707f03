"""Streamlit helpers shared by the pages: layout and globals, charts, the live-training panel."""
