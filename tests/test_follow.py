"""The follow link: the presenter's stage on the server, and a follower's page mirroring it (AppTest)."""

import pytest
from streamlit.testing.v1 import AppTest

from lrd_core.runtime.follow import CODE_ALPHABET, CODE_LENGTH, FollowBoard
from tests.apptest_support import APP, TIMEOUT, open_page


def test_a_presenter_gets_one_short_code_and_only_they_can_publish_to_it():
    board = FollowBoard()
    code = board.open("presenter-1", "pages/2_Gating.py")
    assert len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
    assert board.open("presenter-1", "pages/3_Convolutions.py") == code  # the same stage while it lives
    assert board.open("presenter-2", "app.py") != code
    with pytest.raises(ValueError, match="code"):
        board.publish(code, "presenter-2", page="app.py", values={}, seed=0, runs={})


def test_the_stage_version_grows_only_when_something_changed():
    board = FollowBoard()
    code = board.open("p", "app.py")
    first = board.publish(code, "p", page="pages/2_Gating.py", values={"T": 200}, seed=0, runs={})
    same = board.publish(code, "p", page="pages/2_Gating.py", values={"T": 200}, seed=0, runs={})
    moved = board.publish(code, "p", page="pages/2_Gating.py", values={"T": 100}, seed=0, runs={})
    started = board.publish(code, "p", page="pages/2_Gating.py", values={"T": 100}, seed=0, runs={"race": (3, False)})
    assert (first.version, same.version, moved.version, started.version) == (1, 1, 2, 3)
    assert board.stage(code).runs == {"race": (3, False)}
    board.close(code, "someone else")
    assert board.stage(code) is not None
    board.close(code, "p")
    assert board.stage(code) is None


def test_followers_are_counted_while_they_check():
    import time

    from lrd_core.runtime import follow

    board = FollowBoard()
    code = board.open("p", "app.py")
    for name in ("a", "b", "c"):
        board.stage(code, name)
    board.stage(code)  # a read that is not a follower's check
    assert board.followers() == 3
    board._seen["a"] = time.monotonic() - follow.FOLLOWER_TTL_S - 1  # a tab closed long ago
    assert board.followers() == 2


def test_the_board_is_bounded():
    board = FollowBoard(max_stages=2, ttl_s=1e-6)
    board.open("a", "app.py")
    board.open("b", "app.py")
    board.open("c", "app.py")  # the two older stages are past their (tiny) age and dropped first
    with pytest.raises(ValueError, match="max_stages"):
        _full_board().open("z", "app.py")
    with pytest.raises(ValueError, match="max_stages"):
        FollowBoard(max_stages=0)


def _full_board() -> FollowBoard:
    board = FollowBoard(max_stages=1)
    board.open("y", "app.py")
    return board


def _presenter() -> AppTest:
    at = open_page("pages/2_Gating.py", query={"presenter": "1"}, session={"_visitor_id": "presenter"})
    at.run()
    at.toggle(key="_follow_share_widget").set_value(True).run()
    return at


def _follower(code: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)  # the short link opens the app's home page
    at.query_params["follow"] = code
    at.session_state["_visitor_id"] = "follower"
    at.run()
    return at


def test_a_follower_lands_on_the_presenters_page_with_their_values_read_only():
    presenter = _presenter()
    code = presenter.session_state["_follow_share_code"]
    assert f"?follow={code}" in [c.value for c in presenter.code]
    presenter.slider(key="T").set_value(100).run()
    follower = _follower(code)
    assert not follower.exception
    assert [t.value for t in follower.title] == ["Gating: LSTM and GRU"]
    assert follower.slider(key="T").value == 100 and follower.session_state["global_seed"] == 0
    assert any(i.value.startswith("**Following the presenter**") for i in follower.info)
    assert not [b for b in follower.button if b.key == "gating_race_start"]  # no Start for the hall
    presenter.number_input(key="_seed_widget").set_value(4).run()
    presenter.switch_page("pages/3_Convolutions.py").run()
    follower.run()  # what its timed check does when the stage changed
    assert [t.value for t in follower.title] == [presenter.title[0].value]
    assert follower.session_state["global_seed"] == 4
    follower.button(key="_follow_leave").click().run()
    assert not any(i.value.startswith("**Following") for i in follower.info)
    assert [b for b in follower.button if b.key.endswith("_start")]  # their own Start again


def test_a_follower_watches_the_presenters_run_and_a_stop_by_the_presenter():
    presenter = _presenter()
    code = presenter.session_state["_follow_share_code"]
    for _ in range(2):  # reveal sections 2 and 3: the race
        presenter.button(key="_reveal_next").click().run()
    presenter.button(key="gating_race_start").click().run()
    follower = _follower(code)
    mine, theirs = presenter.session_state["gating_race"], follower.session_state["gating_race"]
    assert theirs.run_id == mine.run_id and theirs.follower and theirs.snapshot.steps_done >= 4
    presenter.button(key="gating_race_stop").click().run()
    follower.run()
    assert any(i.value.startswith("Stopped by the presenter at step") for i in follower.info)
