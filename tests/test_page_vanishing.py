"""Page-specific behaviour of pages/1_Vanishing_gradients.py under AppTest."""

import pytest

from lrd_core import theory
from tests.apptest_support import assert_clean, open_page

PAGE = "pages/1_Vanishing_gradients.py"


def _table(at):
    return at.dataframe[0].value


def test_deep_link_sets_widgets_and_numbers():
    at = open_page(PAGE, query={"rho": "1.5", "T": "100", "act": "identity"})
    at.run()
    assert_clean(at, "deep link")
    assert at.slider(key="rho").value == 1.5 and at.slider(key="T").value == 100
    assert at.selectbox(key="act").value == "identity"
    table = _table(at)
    # the closed-form column uses the linked rho (alpha = 1: unit read-out)
    for L, s in zip(table["L"], table["S_RNN(L) = α·ρ^(L−1)"]):
        assert float(s) == pytest.approx(theory.signal_magnitude(1.5, int(L)), rel=1e-3)  # shown with 4 digits


def test_same_view_by_hand_gives_the_same_numbers_as_the_link():
    linked = open_page(PAGE, query={"rho": "0.8", "xscale": "2.5"})
    linked.run()
    by_hand = open_page(PAGE)
    by_hand.run()
    by_hand.slider(key="rho").set_value(0.8)
    by_hand.slider(key="xscale").set_value(2.5)
    by_hand.run()
    assert _table(linked).equals(_table(by_hand))


def test_exploding_training_shows_divergence_message_not_a_crash():
    at = open_page(PAGE)
    at.run()
    at.slider(key="rho").set_value(2.0)
    at.selectbox(key="act").set_value("identity")
    at.slider(key="train_T").set_value(300)
    at.run()
    assert any("overflowed" in w.value for w in at.warning)  # the probe's exploding gradient
    at.button(key="rnn_adding_start").click().run()
    at.run()
    assert_clean(at, "exploding run")
    assert any("diverged at step 1" in w.value for w in at.warning)
    assert at.button(key="rnn_adding_start").proto.disabled is False  # the run has ended


def test_stop_ends_a_live_run():
    at = open_page(PAGE)
    at.run()
    at.button(key="rnn_adding_start").click().run()
    at.run()
    progress = at.get("progress")[0].proto.text
    assert progress.startswith("step ") and int(progress.split()[1]) > 0
    at.button(key="rnn_adding_stop").click().run()
    assert_clean(at, "stop")
    assert any("Stopped by you" in i.value for i in at.info)
    stopped_at = at.get("progress")[0].proto.text
    at.run()
    assert at.get("progress")[0].proto.text == stopped_at  # no further steps after Stop
