"""Named lecture scenarios from ``presets.toml``: each is a link that opens its page in that state.

The link carries every value in the URL (widgets bound to query parameters
read them), the seed, and ``preset=<id>`` so the page can show the teaching point.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

PRESETS_FILE = Path(__file__).with_name("presets.toml")
PRESET_PARAM = "preset"  # query parameter naming the preset that opened the page


@dataclass(frozen=True)
class Preset:
    id: str  # stable name, e.g. "rnn-forgets-100"
    version: int  # bumped whenever the values change
    page: str  # script path relative to app.py
    title: str  # what the menu shows
    point: str  # the one-line teaching point shown on the page
    seed: int = 0
    params: dict = field(default_factory=dict)  # widget key -> value

    def query(self) -> dict[str, str]:
        """The query string that opens the page in this state (widget values and the seed)."""
        fmt = {bool: lambda v: str(v).lower()}
        values = {k: fmt.get(type(v), str)(v) for k, v in self.params.items()}
        return values | {"seed": str(self.seed), PRESET_PARAM: self.id}


def load_presets(path: Path = PRESETS_FILE) -> tuple[Preset, ...]:
    """Every preset in the file, checked: ValueError naming the preset and the field that is wrong."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    if data.get("schema") != 1:
        raise ValueError(f"{path.name}: schema must be 1, got {data.get('schema')!r}")
    presets, seen = [], set()
    for raw in data.get("preset", []):
        try:
            preset = Preset(**raw)
        except TypeError as err:
            raise ValueError(f"{path.name}: preset {raw.get('id', '?')!r}: {err}") from None
        if preset.id in seen:
            raise ValueError(f"{path.name}: preset id {preset.id!r} appears twice")
        if not (path.parent.parent / preset.page).is_file():
            raise ValueError(f"{path.name}: preset {preset.id!r}: page {preset.page!r} does not exist")
        seen.add(preset.id)
        presets.append(preset)
    return tuple(presets)


def preset_menu() -> None:
    """Sidebar list of every preset as a link: it opens the page with the preset's values in the URL."""
    with st.popover("Lecture presets", icon=":material/school:", width="stretch"):
        for preset in load_presets():
            st.page_link(preset.page, label=preset.title, query_params=preset.query(), help=preset.point)


def active_preset() -> Preset | None:
    """The preset named by the URL's ``preset`` parameter, if any (an unknown name is ignored)."""
    return {p.id: p for p in load_presets()}.get(st.query_params.get(PRESET_PARAM))


def preset_banner() -> None:
    """Under the title: the teaching point of the preset that opened this page, and whether the
    visitor has since changed any of its values."""
    preset = active_preset()
    if preset is None:
        return
    changed = [k for k, v in preset.params.items() if k in st.session_state and st.session_state[k] != v]
    note = f" You have changed {', '.join(changed)} since." if changed else ""
    st.info(
        f"**{preset.title}** (preset `{preset.id}` v{preset.version}). {preset.point}{note}", icon=":material/school:"
    )
