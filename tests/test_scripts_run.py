"""Runs you can take away: ``python -m scripts.run LINK`` and the live panel's "Copy as Python" script both
rebuild the page's Demo through the registry, so they train the run the page trains."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lrd_core.demo import FULL
from lrd_core.lecture import DEMO_TOPICS, lecture_demo_of, python_script, run_demo, topic_sizes
from scripts import run as cli
from tests.apptest_support import open_page

ROOT = Path(__file__).resolve().parents[1]
PAGE_OF = {t: page for page, topics in cli.PAGE_TOPICS.items() for t in topics}


def _race(topic: str) -> str | None:
    return topic.partition(":")[2] or None


def test_every_registered_run_has_a_page_link():
    assert set(PAGE_OF) == set(DEMO_TOPICS)


@pytest.mark.parametrize("topic", DEMO_TOPICS)
def test_a_bare_page_link_is_the_lecture_demo(topic):
    """The page's link with only the seed gives the Demo the page runs at its defaults (the registry's)."""
    for link in (f"/{PAGE_OF[topic]}?seed=3", f"http://lecture.example:8501/{PAGE_OF[topic]}?seed=3&presenter=1"):
        got, values, seed, ignored = cli.resolve_link(link, race=_race(topic))
        assert got == topic and seed == 3
        assert ignored == ["presenter"] if "presenter" in link else not ignored
        assert cli.demo_builder(topic)(values, seed).key == lecture_demo_of(topic, 3).key


def test_link_parameters_reach_the_demo_and_match_the_page():
    """A shared link's settings give the key the page itself runs under those query parameters (AppTest)."""
    query = {"seed": "2", "train_T": "60", "lr": "0.01", "chrono": "false", "race_bias": "2.0"}
    topic, values, seed, _ = cli.resolve_link("/Gating?" + "&".join(f"{k}={v}" for k, v in query.items()))
    key = cli.demo_builder(topic)(values, seed).key
    assert dict(key[2])["train_T"] == 60 and dict(key[2])["lr"] == 0.01 and key[3] == 2
    at = open_page("pages/2_Gating.py", query=query)
    at.run()
    assert not at.exception
    assert at.session_state["gating_race_demo_key"] == key


def test_full_size_from_the_link_or_the_flag():
    sizes = topic_sizes("gating")
    _, values, _, _ = cli.resolve_link("/Gating?size=Full+size")
    assert {k: values[k] for k in sizes[FULL]} == sizes[FULL]
    _, values2, _, _ = cli.resolve_link("/Gating", size=FULL)
    assert values2 == values


@pytest.mark.parametrize(
    ("link", "extra", "says"),
    [
        ("/Exercises", [], "has no live run"),
        ("/No_such_page?seed=1", [], "has no live run"),
        ("/Gating?train_T=abc", [], "train_T='abc' is not a int"),
        ("/Gating?seed=-1", [], "seed must be in"),
        ("/Gating?seed=x", [], "seed='x' is not an integer"),
        ("/Gating?train_T=100000", [], "T"),  # the demo's own range check
        ("/Gating?size=Huge", [], "size must be one of"),
        ("/Gating", ["--race", "lstm"], "--race must be one of"),
    ],
)
def test_a_bad_link_exits_2_with_one_line(capsys, link, extra, says):
    assert cli.main([link, "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "scripts.run", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_cli_runs_a_link_twice_identically_and_writes_csv_and_png(tmp_path):
    """A short vanishing run (T = 10, 100 steps: a few CPU-seconds) in a fresh interpreter, twice."""
    link = "/Vanishing_gradients?seed=1&train_T=10&steps=100&junk=7"
    first, second = _run_cli(link, "--quiet", "--out", str(tmp_path)), _run_cli(link, "--quiet")
    assert first.returncode == 0, first.stderr
    assert "not settings of this run, ignored: junk" in first.stderr  # never dropped silently
    verdict = [line for line in first.stdout.splitlines() if line.startswith("verdict")]
    assert verdict and verdict == [line for line in second.stdout.splitlines() if line.startswith("verdict")]
    expected = run_demo(cli.demo_builder("vanishing")(cli.resolve_link(link)[1], 1)).verdict
    assert expected.text in verdict[0]
    csv, png = tmp_path / "vanishing-history.csv", tmp_path / "vanishing-loss.png"
    assert csv.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(csv.read_text().splitlines()) == 1 + 100  # a header and one row per step of the one series


def test_copy_as_python_is_short_and_names_the_run():
    demo = lecture_demo_of("real_data:lstm", 4)
    script = python_script(demo)
    compile(script, "copy_as_python", "exec")
    code = [line for line in script.splitlines() if line.strip() and not line.startswith('"""')]
    assert len(code) <= 14
    assert "demo_builder('real_data:lstm')" in script and "seed=4" in script


@pytest.mark.slow
@pytest.mark.one_kernel_set  # compares two runs on one machine: the kernel set does not change what it checks
@pytest.mark.timeout(900)
@pytest.mark.parametrize("topic", DEMO_TOPICS)
def test_copy_as_python_reproduces_the_pages_verdict_in_a_fresh_interpreter(topic, tmp_path):
    """The script under the live panel, run as a file by a fresh interpreter, prints the verdict the page's run
    ends with (the same Demo run to its end in this process), and saves the loss curve."""
    demo = lecture_demo_of(topic, 0)
    path = tmp_path / "copied.py"
    path.write_text(python_script(demo))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    expected = run_demo(lecture_demo_of(topic, 0)).verdict
    assert out.stdout.strip().splitlines()[-1] == (expected.text if expected else "no verdict")
    assert (tmp_path / f"{topic.replace(':', '-')}-loss.png").stat().st_size > 1000
