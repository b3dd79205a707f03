"""The architecture rules of ../shared/DESIGN.md, checked on the source tree itself."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = sorted((ROOT / "lrd_core").rglob("*.py"))
EXPERIMENTS = sorted((ROOT / "lrd_core" / "experiments").glob("[a-z]*.py"))


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


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_files_are_small_and_never_import_streamlit(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 450
    assert not any(m == "streamlit" or m.startswith("streamlit.") for m in _imported_modules(path))


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
