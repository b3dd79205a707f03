"""The architecture rules of ../shared/DESIGN.md, checked on the source tree itself."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = sorted((ROOT / "lrd_core").rglob("*.py"))
EXPERIMENTS = sorted((ROOT / "lrd_core" / "experiments").glob("[a-z]*.py"))
CHARTS = ROOT / "lrd_core" / "charts"
PAGES = [*sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]
TOOLS = sorted((ROOT / "bench").glob("*.py")) + sorted((ROOT / "scripts").glob("*.py"))


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _imports_any(path: Path, *prefixes: str) -> set[str]:
    return {m for m in _imported_modules(path) if any(m == p or m.startswith(p + ".") for p in prefixes)}


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_streamlit_and_draws_only_in_the_charts_layer(path):
    assert not _imports_any(path, "streamlit")
    if CHARTS not in path.parents:  # experiments, data modules, models: tidy frames in, no Altair, no palette
        assert not _imports_any(path, "altair", "lrd_core.charts"), "chart code outside lrd_core/charts/"


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_importlib_lookup_in_core(path):
    """Topics are found through the explicit registry in lrd_core/lecture.py, never by name at run time."""
    assert not _imports_any(path, "importlib")


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_build_no_charts_inline(path):
    assert not _imports_any(path, "altair"), "a page calls a builder in lrd_core/charts/ instead"


@pytest.mark.parametrize("path", TOOLS, ids=lambda p: str(p.relative_to(ROOT)))
def test_bench_and_scripts_do_not_import_tests(path):
    assert not _imports_any(path, "tests")


def _live_panel_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == "live_panel"
    ]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_hand_live_panel_a_demo_built_in_lrd_core(path):
    """Every live panel's run is a Demo from a call into an experiments module (``topic.demo(values, seed, ...)``),
    assigned to a name; a page passes no dict of factories, lambda or local function that a worker would run."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    experiments = {
        a.asname or a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == "lrd_core.experiments"
        for a in n.names
    } | {
        (a.asname or a.name).rsplit(".", 1)[-1]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import)
        for a in n.names
        if a.name.startswith("lrd_core.experiments.")
    }
    assigned = {}  # name -> the call that built it
    for n in ast.walk(tree):
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call):
            for target in n.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(n.value)
    local_defs = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    for call in _live_panel_calls(tree):
        arg = call.args[1] if len(call.args) > 1 else None
        assert isinstance(arg, ast.Name), f"line {call.lineno}: live_panel's demo must be a name bound to a Demo"
        builders = assigned.get(arg.id, [])
        assert builders, f"line {call.lineno}: {arg.id} is not assigned from a call"
        for b in builders:
            f = b.func  # topic.demo(...), or build_demo(topic.demo, ...) (lrd_ui.live: errors shown on the page)
            if isinstance(f, ast.Name) and f.id == "build_demo" and b.args:
                f = b.args[0]
            assert isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in experiments, (
                f"line {b.lineno}: {arg.id} must come from an lrd_core.experiments module's demo function"
            )
        passed = [*call.args, *(k.value for k in call.keywords if k.arg != "render")]
        assert not any(isinstance(a, ast.Lambda | ast.Dict) for a in passed), f"line {call.lineno}"
        assert not any(isinstance(a, ast.Name) and a.id in local_defs for a in passed), f"line {call.lineno}"


def test_the_layout_rule_catches_a_page_defined_factory(tmp_path):
    """The rule above fails on the pattern it forbids (a dict of lambdas, as pages built before issue 31)."""
    bad = tmp_path / "bad_page.py"
    bad.write_text(
        "from lrd_core.experiments import vanishing\n"
        "factories = dict(RNN=1)\n"
        "live_panel('k', {'RNN': lambda: run()}, render=render)\n"
    )
    with pytest.raises(AssertionError):
        test_pages_hand_live_panel_a_demo_built_in_lrd_core(bad)
    local = tmp_path / "local_page.py"  # a Demo built by a page-defined function is refused too
    local.write_text("def make():\n    return 1\nd = build_demo(make, {}, 0, 'cpu')\nlive_panel('k', d, render=r)\n")
    with pytest.raises(AssertionError):
        test_pages_hand_live_panel_a_demo_built_in_lrd_core(local)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_modules_do_not_import_each_other(path):
    # a topic split in parts (gating + gating_init) may import its own parts; never another topic's module
    def topic(stem: str) -> str:
        return next((p.stem for p in EXPERIMENTS if stem.startswith(p.stem + "_")), stem)

    others = {f"lrd_core.experiments.{p.stem}" for p in EXPERIMENTS if topic(p.stem) != topic(path.stem)}
    assert not (_imported_modules(path) & others)


def test_every_page_topic_has_its_experiments_module():
    assert {p.stem for p in EXPERIMENTS} >= {
        "vanishing",
        "gating",
        "convolutions",
        "attention",
        "long_context",
        "state_space",
        "layernorm",
    }


def test_documented_public_paths_import():
    from lrd_core.ssm import s4d_kernel, ssm_fft, ssm_scan
    from lrd_core.tasks import adding_problem
    from lrd_core.theory import receptive_field, segment_reach, signal_magnitude, tcn_receptive_field
    from lrd_core.tokenize import bpe_tokenizer, chars_per_token

    assert all(
        callable(f)
        for f in (
            s4d_kernel,
            ssm_fft,
            ssm_scan,
            adding_problem,
            receptive_field,
            segment_reach,
            signal_magnitude,
            tcn_receptive_field,
            bpe_tokenizer,
            chars_per_token,
        )
    )
