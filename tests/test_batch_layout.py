"""Layout rules (issue 11) for the batch modules: no file over 600 lines, no function over 80
code lines, no private names imported across modules; and no test or batch code starts a
dask LocalCluster on the fixed dashboard port 8787 (taken on a shared machine)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BATCH_MODULES = ["caimg/batch.py", "caimg/_batch_tables.py", "caimg/_batch_out.py",
                 "caimg/_workers.py", "caimg/_threads.py"]


def _code_lines(func: ast.AST, lines: list[str]) -> int:
    """Non-blank, non-comment lines of a function, without its docstring."""
    body = func.body
    start = body[0].lineno
    if (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        start = body[0].end_lineno + 1
    return sum(1 for line in lines[start - 1:func.end_lineno]
               if line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("rel", BATCH_MODULES)
def test_batch_module_sizes(rel):
    text = (ROOT / rel).read_text()
    lines = text.splitlines()
    assert len(lines) <= 600, f"{rel}: {len(lines)} lines"
    long = {node.name: _code_lines(node, lines) for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert not {k: v for k, v in long.items() if v > 80}, long


@pytest.mark.parametrize("rel", BATCH_MODULES)
def test_no_private_imports_across_packages(rel):
    tree = ast.parse((ROOT / rel).read_text())
    private = [(node.module, alias.name) for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom)
               for alias in node.names if alias.name.startswith("_")
               and alias.name != "__version__"]
    assert not private, private


def test_check_replaceable_is_public():
    from caimg.io import result

    assert "check_replaceable" in result.__all__ and callable(result.check_replaceable)


def test_no_local_cluster_on_the_fixed_dashboard_port():
    offenders = []
    for path in [*ROOT.glob("caimg/**/*.py"), *ROOT.glob("tests/**/*.py"),
                 *ROOT.glob("benchmarks/*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr",
                                                       getattr(node.func, "id", None))
                    == "LocalCluster"):
                kw = {k.arg: k.value for k in node.keywords}
                dash = kw.get("dashboard_address")
                if not (isinstance(dash, ast.Constant) and dash.value == ":0"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders
