"""One colour per model everywhere: the Okabe-Ito colour-blind-safe set, and the dash of theory vs measured.

Every chart that colours lines or marks by a model or series name takes its colours from here, as an
explicit ``alt.Scale(domain=names, range=colours)``: Vega's default palette assigns colours by the order a
chart's data happens to list its series, so without a fixed scale "LSTM" is orange on one chart and blue on
the next, and the exported PNG/SVG could differ from the page.

How a name gets its colour (:func:`colors`):

1. a name is a **model** when it is a key of :data:`MODELS` or starts with one followed by a space, comma
   or colon ("LSTM, forget bias 4: f^(L−1)" is the LSTM; the longest key wins, so "Post-LN / Pre-LN" is
   Post-LN). :data:`CONTEXT` names (the actual series, baselines) have fixed greys or black;
2. the first solid series of a model on a chart gets the model's colour; a theory (dashed) series gets
   its model's colour too, so a model's measured and predicted curves match and differ by dash only;
3. every other name (a setting such as a quantile, a Δ, a lag, a second variant of one model such as
   "TCN, reach 512") takes the Okabe-Ito colours left free on that chart, in the order given.

Rule 3 is a documented, deterministic fallback rather than an error: series names carry parameter values
(ρ, Δ, lags, reaches) that no fixed table can list, and a lecture must not crash on a new slider value.
Model-specific charts pass ``strict=True``, which raises ValueError for a name that is not a model, so a
new model series there cannot slip through; ``tests/test_palette.py`` checks that every model name the
experiments modules export resolves, and that every chart on every page uses explicit scales.

Okabe & Ito (2008), "Color Universal Design"; yellow (#F0E442) is left out of lines: on white it is
nearly invisible on a projector.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import altair as alt

OKABE_ITO = {  # Okabe & Ito (2008), in their order
    "black": "#000000",
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
}
_O = OKABE_ITO

MODELS = {  # model -> colour; models that share a chart never share a colour (tests/test_palette.py)
    # recurrent (pages 1, 2) and the home overview's six architectures: six different colours
    "plain RNN": _O["vermillion"],
    "RNN": _O["vermillion"],  # the gating race's name for it
    "LSTM": _O["blue"],
    "GRU": _O["sky blue"],
    "no attention": _O["sky blue"],  # the GRU encoder-decoder without attention (page 4)
    "TCN": _O["bluish green"],
    "dilated TCN": _O["bluish green"],
    "dilated conv stack": _O["bluish green"],
    "attention": _O["orange"],
    "Transformer": _O["orange"],
    "S4D": _O["reddish purple"],
    "SSM": _O["reddish purple"],  # the S4D memory curves of page 6
    "S6": _O["black"],  # the selective SSM, raced against S4D on page 7
    # long context (page 5): the two ways a Transformer reads past its segment
    "sliding window": _O["sky blue"],
    "segment recurrence": _O["orange"],
    "XL memory": _O["orange"],
    # LayerNorm placement (page 8)
    "Post-LN": _O["vermillion"],
    "Pre-LN": _O["blue"],
    "DeepNorm": _O["bluish green"],
    "Post-LN + warm-up": _O["orange"],
    # associative recall (page 10): attention, S4D and S6 as above, and the two fixed-size memories
    "linear attention": _O["blue"],
    "DeltaNet": _O["bluish green"],
}

GREY, LIGHT_GREY = "#999999", "#CCCCCC"
CONTEXT = {  # not models: what the models are drawn against (real-data page)
    "actual": _O["black"],
    "forecast day": LIGHT_GREY,
    "same as last week": GREY,
    "same as yesterday": GREY,
}

FREE_ORDER = tuple(_O[c] for c in ("orange", "sky blue", "bluish green", "blue", "vermillion", "reddish purple"))
FREE_ORDER += (_O["black"],)  # black last: it is the actual series and the measured points of other charts

MEASURED_DASH, THEORY_DASH = [1, 0], [8, 5]  # solid = measured, dashed = theory (closed form)
THEORY_DASHES = (THEORY_DASH, [2, 4], [14, 4, 2, 4])  # several theory curves of one colour, in order
KINDS = ("measured", "theory (dashed)")  # the legend entries of a dash-by-kind encoding


def model_of(name: str) -> str | None:
    """The :data:`MODELS` key that ``name`` names (exact, or the longest key followed by " ", "," or ":")."""
    name = str(name)
    if name in MODELS:
        return name
    hits = [k for k in MODELS if name.startswith(k) and name[len(k)] in " ,:"]
    return max(hits, key=len) if hits else None


def color(name: str) -> str:
    """The fixed colour of a model or context name; ValueError (naming it) for any other name."""
    if str(name) in CONTEXT:
        return CONTEXT[str(name)]
    model = model_of(name)
    if model is None:
        raise ValueError(f"name: {name!r} is no model in lrd_core.charts.palette.MODELS (nor a context name)")
    return MODELS[model]


def colors(names: Iterable[str], *, theory: Sequence[str] = (), strict: bool = False) -> list[str]:
    """One colour per distinct name, in the order given (rules 1-3 of the module docstring).

    ``theory`` names (drawn dashed) share their model's colour. ``strict``: every name must be a model
    or context name (ValueError otherwise). A chart with more names than free colours (7 at most) gets
    the free colours again in the same order rather than an error: no page draws that many lines (the
    page walk in tests/test_palette.py checks that no two series of different models share a colour),
    and a live chart must not crash a lecture.
    """
    names = list(dict.fromkeys(str(n) for n in names))
    fixed = {n: color(n) for n in names if n in CONTEXT}
    if strict:
        unknown = [n for n in names if n not in fixed and model_of(n) is None]
        if unknown:
            raise ValueError(f"names: {unknown} are not in lrd_core.charts.palette.MODELS (strict chart)")
    out: dict[str, str] = dict(fixed)
    taken = set(fixed.values())
    theory = {str(t) for t in theory}
    for n in [n for n in names if n not in theory] + [n for n in names if n in theory]:  # solid first
        model = model_of(n) if n not in out else None
        if model is None:
            continue
        c = MODELS[model]
        solid_twin = any(s not in theory and model_of(s) == model and out[s] == c for s in out)
        if c not in taken or (n in theory and solid_twin):
            out[n] = c
            taken.add(c)
    free = [c for c in FREE_ORDER if c not in taken]
    rest = [n for n in names if n not in out]
    free = free or list(FREE_ORDER)  # every colour taken (7 models on one chart): reuse, in order
    out.update((n, free[i % len(free)]) for i, n in enumerate(rest))
    return [out[n] for n in names]


def scale(names: Iterable[str], *, theory: Sequence[str] = (), strict: bool = False) -> alt.Scale:
    """``alt.Scale(domain=names, range=colors(names))``: each name its colour on every chart and in exports."""
    names = list(dict.fromkeys(str(n) for n in names))
    return alt.Scale(domain=names, range=colors(names, theory=theory, strict=strict))
