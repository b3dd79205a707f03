"""The home overview's TCN curve and the curves that coincide at 1.

Issue #20 item 6: the overview used to draw the TCN as a flat line at 1 ("full strength inside its
receptive field"). It now draws the page-3 probe's measured profile inside R and exact zeros past it, and
says "non-zero inside, exactly zero outside"; these tests fail if that sentence is wrong.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lrd_core.charts import palette
from lrd_core.charts.topic_charts import overview_chart
from lrd_core.experiments.convolutions import measured_tcn_signal
from lrd_core.overview import OVERVIEW_TCN, overview_frame, tcn_spread
from tests.apptest_support import assert_clean, open_page

# The home page's stack, k = 2 and layers l = 0..7 with dilation 2^l: lag m = sum_l m_l 2^l with each m_l
# in {0, 1} reaches every lag 0..2^8 − 1 = 255 by exactly one path, and no lag beyond. So R = 256 inputs.
R_HOME = 256


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_tcn_signal_is_non_zero_inside_and_exactly_zero_outside(seed):
    assert OVERVIEW_TCN == {"kernel_size": 2, "top_layer": 7}  # the stack R_HOME was worked out for
    m = measured_tcn_signal(**OVERVIEW_TCN, seed=seed).set_index("L")["signal"]
    inside, outside = m[m.index <= R_HOME], m[m.index > R_HOME]
    assert len(inside) == R_HOME and len(outside) > 0  # the probe looks past the field
    assert (inside > 0).all() and np.isfinite(inside).all()
    assert (outside == 0).all()
    assert inside.iloc[0] == 1.0  # normalised at L = 1
    assert inside.max() / inside.min() > 1.05  # not a flat line at 1: its size varies inside the field


def test_overview_draws_the_measured_profile_and_the_caption_numbers_come_from_it():
    m = measured_tcn_signal(**OVERVIEW_TCN, seed=0)
    df = overview_frame(**OVERVIEW_TCN, tcn_signal=m)
    tcn = df[df["page"] == "pages/3_Convolutions.py"].set_index("L")["signal"]
    drawn_inside = tcn[tcn.index <= R_HOME]
    expected = m.set_index("L")["signal"].reindex(drawn_inside.index)
    np.testing.assert_array_equal(drawn_inside.to_numpy(), expected.to_numpy())  # the profile, not 1
    spread = tcn_spread(df)
    grid = np.unique(np.geomspace(1, 2000, 240).round())  # overview_frame's default L grid
    assert spread["R"] == R_HOME and spread["zeros"] == int((grid > R_HOME).sum())
    assert spread["min"] == drawn_inside.min() and spread["max"] == drawn_inside.max()
    assert spread["ratio"] == pytest.approx(drawn_inside.max() / drawn_inside.min(), rel=1e-12)


def test_tcn_spread_refuses_a_wrong_claim():
    df = overview_frame(**OVERVIEW_TCN, tcn_signal=measured_tcn_signal(**OVERVIEW_TCN, seed=0))
    tcn = df["page"] == "pages/3_Convolutions.py"
    zero_inside = df.copy()
    zero_inside.loc[tcn & (df["L"] == 8), "signal"] = 0.0
    with pytest.raises(ValueError, match="df"):
        tcn_spread(zero_inside)
    leak = df.copy()
    leak.loc[tcn & (df["L"] > R_HOME), "signal"] = 1e-9
    with pytest.raises(ValueError, match="df"):
        tcn_spread(leak)
    with pytest.raises(ValueError, match="tcn_signal"):
        overview_frame(**OVERVIEW_TCN, tcn_signal=pd.DataFrame({"L": [1, 2], "signal": [1.0, 0.5]}))


def test_curves_at_one_are_marked_on_top_in_their_colours():
    """Attention (1 everywhere) and the TCN (near 1) sit under S4D's line: they get marks drawn after it."""
    df = overview_frame(**OVERVIEW_TCN, tcn_signal=measured_tcn_signal(**OVERVIEW_TCN, seed=0))
    spec = overview_chart(df).to_dict()
    layers = spec["layer"]
    lines_at = next(i for i, layer in enumerate(layers) if layer["mark"]["type"] == "line")
    marks = {layer["mark"]["shape"]: (i, layer) for i, layer in enumerate(layers) if layer["mark"].get("shape")}
    for shape, model in (("diamond", "attention"), ("square", "TCN")):
        i, layer = marks[shape]
        assert i > lines_at  # drawn on top of every line
        assert layer["encoding"]["color"]["value"] == palette.color(model)
        assert len(spec["datasets"][layer["data"]["name"]]) >= 5
    notes = [r.get("note", "") for rows in spec["datasets"].values() for r in rows]
    assert any("attention (diamonds), TCN (squares)" in n for n in notes)


def test_home_page_caption_states_the_measured_claim():
    at = open_page("app.py")
    at.run()
    assert_clean(at, "home")
    caption = next(c.value for c in at.caption if c.value.startswith("TCN curve"))
    spread = tcn_spread(overview_frame(**OVERVIEW_TCN, tcn_signal=measured_tcn_signal(**OVERVIEW_TCN, seed=0)))
    assert f"non-zero at every lag inside R = {R_HOME}" in caption
    assert f"a factor of {spread['ratio']:.2g}" in caption and f"all {spread['zeros']} lags" in caption
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    domain = spec["layer"][0]["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert any(d.startswith("dilated TCN") and "non-zero up to R = 256, exactly 0 past it" in d for d in domain)
