"""Page set-up: config, the menu drawn with ``st.page_link``, and the global seed and device."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlencode

import streamlit as st

from lrd_core.limits import MAX_SEED
from lrd_core.runtime.foreground import page_started
from lrd_ui.errors import fail_if_forced, guard_page
from lrd_ui.presenter import controls_toggle, presenter_from_url, presenter_toggle, presenting, start_page
from lrd_ui.presets import preset_banner, preset_menu

# (script path relative to app.py, menu label, icon); later pages add themselves here.
PAGES = (
    ("app.py", "Overview", ":material/home:"),
    ("pages/1_Vanishing_gradients.py", "Vanishing & exploding gradients", ":material/trending_down:"),
    ("pages/2_Gating.py", "Gating: LSTM and GRU", ":material/alt_route:"),
    ("pages/3_Convolutions.py", "Dilated convolutions", ":material/account_tree:"),
    ("pages/4_Attention.py", "Attention", ":material/center_focus_strong:"),
    ("pages/5_Long_context.py", "Long context", ":material/data_array:"),
    ("pages/6_State_space_models.py", "State-space models", ":material/waves:"),
    ("pages/7_Selective_state_spaces.py", "Selective state spaces", ":material/filter_alt:"),
    ("pages/8_LayerNorm_placement.py", "LayerNorm placement", ":material/stacked_line_chart:"),
    ("pages/9_Real_data.py", "Real data: electricity demand", ":material/bolt:"),
    ("pages/10_Associative_recall.py", "Associative recall", ":material/manage_search:"),
    ("pages/11_Exercises.py", "Exercises", ":material/quiz:"),
)

SEED_KEY, DEVICE_KEY = "global_seed", "global_device"
TORCH_THREADS = int(os.environ.get("LRD_TORCH_THREADS", "1"))  # per script run; see torch_devices()


@dataclass(frozen=True)
class Globals:
    seed: int  # one integer seeds every random draw on the page
    device: str  # "cpu" or "cuda"


def setup_page(title: str, icon: str, *, uses_torch: bool = True) -> Globals:
    """Call first on every page: page config, title, the menu, the global settings and presenter mode.

    ``uses_torch=False`` (the home page) leaves the device switch out, so the first page a visitor
    opens does not wait for ``import torch`` (about 2 s) before its first chart.
    """
    page_started()  # background training pauses until this script run ends (lrd_core.runtime.foreground)
    guard_page()  # an unexpected error shows the visitor one sentence; the log keeps the traceback
    presenter_from_url()  # before the page config: a presenter link opens with the sidebar collapsed
    st.set_page_config(
        page_title=title, page_icon=icon, layout="wide", initial_sidebar_state="collapsed" if presenting() else "auto"
    )
    start_page(title)
    with st.sidebar:
        menu()
        globals_ = global_settings(uses_torch)
        preset_menu()
        presenter_toggle()
        share_link()
    st.title(title)
    controls_toggle()
    preset_banner()
    fail_if_forced(title)  # tests only: LRD_TEST_FAIL_PAGE set when the server started
    return globals_


def menu() -> None:
    """The page menu (Streamlit's own is hidden in .streamlit/config.toml: it would say "app")."""
    for path, label, icon in PAGES:
        st.page_link(path, label=label, icon=icon)
    st.divider()


def global_settings(uses_torch: bool = True) -> Globals:
    """Seed and device widgets whose values live in plain session-state keys, so they survive page switches."""
    ss = st.session_state
    ss.setdefault(SEED_KEY, 0)
    ss.setdefault(DEVICE_KEY, "cpu")
    devices = torch_devices() if uses_torch else None  # the home page has no device switch
    if devices is not None and ss[DEVICE_KEY] not in devices:
        ss[DEVICE_KEY] = "cpu"
    linked = _seed_from_url()
    if linked is not None and ss.get("_linked_seed") != linked:  # a deep link's seed wins, once
        ss[SEED_KEY] = ss["_linked_seed"] = linked
        ss.pop("_seed_widget", None)  # the widget restarts from the linked value
    seed = st.number_input(
        "Seed",
        min_value=0,
        max_value=MAX_SEED,
        value=int(ss[SEED_KEY]),
        step=1,
        key="_seed_widget",
        help="Every random draw on every page comes from this seed: same seed, same numbers.",
    )
    st.query_params["seed"] = str(int(seed))
    ss["_linked_seed"] = int(seed)
    if devices is not None:
        ss[DEVICE_KEY] = st.selectbox(
            "Device",
            devices,
            index=devices.index(ss[DEVICE_KEY]),
            key="_device_widget",
            help="CUDA appears when a GPU is visible to PyTorch.",
        )
    ss[SEED_KEY] = int(seed)
    return Globals(int(seed), ss[DEVICE_KEY])


def _seed_from_url() -> int | None:
    """The ``seed`` query parameter if it is a valid seed, else None (a bad link falls back, never crashes)."""
    raw = st.query_params.get("seed")
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and 0 <= value <= MAX_SEED else None


def share_link() -> None:
    """The current view as a link: every widget and the seed are in the URL's query string."""
    query = urlencode(st.query_params.to_dict())
    base = (st.context.url or "").split("?")[0]
    with st.popover("Share this view", icon=":material/link:", width="stretch"):
        st.caption("This link opens the page with every setting and the seed as they are now: same numbers.")
        st.code(f"{base}?{query}" if query else base, language=None, wrap_lines=True)


def page_url(path: str) -> str:
    """The URL path Streamlit serves a page script at: "pages/2_Gating.py" -> "Gating", "app.py" -> ""."""
    if path == "app.py":
        return ""
    stem = path.rsplit("/", 1)[-1].removesuffix(".py")
    return stem.split("_", 1)[1] if stem.split("_", 1)[0].isdigit() else stem


def torch_devices() -> list[str]:
    """Import torch (deferred: it is the slowest import), give it ``TORCH_THREADS`` threads (visitors share a
    few cores: one thread per script run avoids oversubscription) and list the devices it can use."""
    import torch

    from lrd_core.devices import available_devices

    if torch.get_num_threads() != TORCH_THREADS:
        torch.set_num_threads(TORCH_THREADS)
    return available_devices()
