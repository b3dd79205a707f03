"""Page set-up: config, the menu drawn with ``st.page_link``, and the global seed and device."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from lrd_core.devices import available_devices
from lrd_core.limits import MAX_SEED

# (script path relative to app.py, menu label, icon); later pages add themselves here.
PAGES = (
    ("app.py", "Overview", ":material/home:"),
    ("pages/1_Vanishing_gradients.py", "Vanishing & exploding gradients", ":material/trending_down:"),
    ("pages/2_Gating.py", "Gating: LSTM and GRU", ":material/alt_route:"),
    ("pages/3_Convolutions.py", "Dilated convolutions", ":material/account_tree:"),
)

SEED_KEY, DEVICE_KEY = "global_seed", "global_device"


@dataclass(frozen=True)
class Globals:
    seed: int  # one integer seeds every random draw on the page
    device: str  # "cpu" or "cuda"


def setup_page(title: str, icon: str) -> Globals:
    """Call first on every page: page config, title, the menu and the global settings."""
    st.set_page_config(page_title=title, page_icon=icon, layout="wide")
    with st.sidebar:
        menu()
        globals_ = global_settings()
    st.title(title)
    return globals_


def menu() -> None:
    """The page menu (Streamlit's own is hidden in .streamlit/config.toml: it would say "app")."""
    for path, label, icon in PAGES:
        st.page_link(path, label=label, icon=icon)
    st.divider()


def global_settings() -> Globals:
    """Seed and device widgets whose values live in plain session-state keys, so they survive page switches."""
    ss = st.session_state
    ss.setdefault(SEED_KEY, 0)
    ss.setdefault(DEVICE_KEY, "cpu")
    devices = available_devices()
    if ss[DEVICE_KEY] not in devices:
        ss[DEVICE_KEY] = "cpu"
    seed = st.number_input(
        "Seed", min_value=0, max_value=MAX_SEED, value=int(ss[SEED_KEY]), step=1, key="_seed_widget",
        help="Every random draw on every page comes from this seed: same seed, same numbers.",
    )
    device = st.selectbox(
        "Device", devices, index=devices.index(ss[DEVICE_KEY]), key="_device_widget",
        help="CUDA appears when a GPU is visible to PyTorch.",
    )
    ss[SEED_KEY], ss[DEVICE_KEY] = int(seed), device
    return Globals(int(seed), device)
