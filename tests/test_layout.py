"""Layout rules of issue 11 over the whole package, measured by benchmarks/layout_stats.py
(the metric of shared/reference/layout-review.md): no module over 600 lines, no function
over 80 code lines except the allowed declarative ones, no private name imported from
another caimg module, no import cycle; and no LocalCluster on the fixed dashboard port 8787
(taken on a shared machine)."""

import ast
import importlib.util
from pathlib import Path

import caimg

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(caimg.__file__).resolve().parent


def _stats():
    spec = importlib.util.spec_from_file_location("layout_stats",
                                                  ROOT / "benchmarks" / "layout_stats.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


STATS = _stats()
REPORT = STATS.report(PACKAGE)


def test_no_module_over_the_limit():
    assert REPORT["modules_over"] == [], REPORT["modules_over"]


def test_no_function_over_the_limit():
    over = [(n, s) for n, s in REPORT["functions_over"] if n not in STATS.FUNCTION_ALLOWED]
    assert over == [], over


def test_no_private_name_imported_across_modules():
    assert REPORT["private_imports"] == [], REPORT["private_imports"]


def test_no_import_cycle():
    assert REPORT["cycles"] == [], REPORT["cycles"]


def test_the_checks_can_fail(tmp_path):
    """The measuring functions see a long module, a long function, a private import and
    a cycle when there is one."""
    pkg = tmp_path / "caimg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    body = "\n".join(f"    x{i} = {i}" for i in range(90))
    (pkg / "a.py").write_text("from .b import _hidden\n\n\ndef long():\n" + body + "\n"
                              + "\n" * 600)
    (pkg / "b.py").write_text("from .a import long\n_hidden = 1\n")
    r = STATS.report(pkg)
    assert [n for n, _ in r["modules_over"]] == ["caimg.a"]
    assert [n for n, _ in r["functions_over"]] == ["caimg.a.long"]
    assert r["private_imports"] == ["caimg.a: caimg.b._hidden"]
    assert r["cycles"] == [["caimg.a", "caimg.b", "caimg.a"]]


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
