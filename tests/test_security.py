"""Nothing a visitor provides is executed, unpickled or injected as HTML; pasted text is capped."""

import ast
from pathlib import Path

import pytest

from lrd_core import limits

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    ROOT / "app.py",
    *sorted((ROOT / "pages").glob("*.py")),
    *sorted((ROOT / "lrd_ui").glob("*.py")),
    *sorted((ROOT / "lrd_core").rglob("*.py")),
]
BANNED_CALLS = {"eval", "exec", "compile", "__import__"}
BANNED_MODULES = {"pickle", "marshal", "shelve", "dill", "cloudpickle"}


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_eval_exec_or_pickle(path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in BANNED_CALLS, f"{path.name}:{node.lineno} calls {node.func.id}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            assert not BANNED_MODULES & {n.split(".")[0] for n in names if n}, f"{path.name}:{node.lineno}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load":
            owner = node.func.value
            assert not (isinstance(owner, ast.Name) and owner.id == "torch"), f"{path.name}:{node.lineno} torch.load"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_raw_html_from_visitors(path):
    """unsafe_allow_html is never used; st.html only ever receives the module's own constant CSS."""
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.keyword):
            assert node.arg != "unsafe_allow_html", f"{path.name}: unsafe_allow_html"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "html":
            (arg,) = node.args
            assert isinstance(arg, ast.Name) and arg.id.isupper(), (
                f"{path.name}:{node.lineno} st.html of {ast.dump(arg)}"
            )


def test_pasted_text_and_uploads_are_capped():
    config = (ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8")
    assert "maxUploadSize = 1" in config
    page = (ROOT / "pages" / "5_Long_context.py").read_text(encoding="utf-8")
    assert "max_chars=MAX_PASTED_CHARS" in page and 0 < limits.MAX_PASTED_CHARS <= 20_000
