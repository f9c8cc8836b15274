"""Module and function sizes of a caimg tree, and the import rules of issue 11.

Prints, for the package folder given (default: this checkout's ``caimg/``):

- module lines (``wc -l``): count, median, 90th percentile, maximum, and every module over
  the limit;
- function "code lines" (from the first statement after the docstring to the end, the
  metric of ``shared/reference/layout-review.md``): count, median, 90th/99th percentile,
  the share over 80 and every function over the limit;
- private names (leading underscore) imported from another caimg module;
- import cycles among caimg modules (module-level imports only; imports inside functions
  are deferred on purpose and do not make a cycle at import time).

Usage::

    python benchmarks/layout_stats.py [PACKAGE_DIR]
    python benchmarks/layout_stats.py --tree [PACKAGE_DIR]   # one line per module

``--tree`` prints every module with its lines and the first line of its docstring
(``docs/layout.md`` is made with it).

``tests/test_layout.py`` asserts the limits with the same functions.
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

MODULE_LIMIT = 600
FUNCTION_LIMIT = 80

#: functions allowed over the limit, with why
FUNCTION_ALLOWED = {
    "caimg.cli.build_parser": "declarative argument parser",
}


def module_name(path: Path, root: Path) -> str:
    """Dotted module name of ``path`` inside the package folder ``root``."""
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    """Every ``.py`` module below ``root`` by dotted name."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def function_sizes(path: Path, modname: str) -> list[tuple[str, int]]:
    """(qualified name, code lines) of every function and method in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = child.body
                if (body and isinstance(body[0], ast.Expr)
                        and isinstance(getattr(body[0], "value", None), ast.Constant)
                        and isinstance(body[0].value.value, str)):
                    body = body[1:]
                n = body[-1].end_lineno - body[0].lineno + 1 if body else 0
                name = f"{prefix}.{child.name}"
                out.append((name, n))
                visit(child, name)
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}.{child.name}")

    visit(tree, modname)
    return out


def _resolve(modname: str, is_pkg: bool, level: int, target: str | None) -> str:
    base = modname.split(".")
    if not is_pkg:
        base = base[:-1]
    if level > 1:
        base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports(path: Path, modname: str, *, top_level_only: bool) -> list[tuple[str, list[str]]]:
    """(imported caimg module, names) for each ``from caimg... import`` in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve(modname, is_pkg, node.level, node.module)
            else:
                target = node.module or ""
            if target.split(".")[0] == "caimg":
                found.append((target, [a.name for a in node.names]))
    return found


def private_imports(root: Path) -> list[str]:
    """``importer: module.name`` for every private name imported across modules."""
    mods = modules(root)
    bad = []
    for name, path in mods.items():
        for target, names in imports(path, name, top_level_only=False):
            for n in names:
                # a private submodule name is a module, not a private attribute
                if (n.startswith("_") and not n.startswith("__")
                        and f"{target}.{n}" not in mods):
                    bad.append(f"{name}: {target}.{n}")
    return bad


def cycles(root: Path) -> list[list[str]]:
    """Import cycles among modules through module-level ``from`` imports."""
    mods = modules(root)
    graph = {}
    for name, path in mods.items():
        deps = set()
        for target, names in imports(path, name, top_level_only=True):
            for n in names:
                deps.add(f"{target}.{n}" if f"{target}.{n}" in mods else target)
        # a package's own __init__ importing its submodules is how packages are built
        graph[name] = {d for d in deps if d in mods and d != name
                       and not d.startswith(name + ".")}
    found, state = [], {}

    def dfs(node, stack):
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                found.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                dfs(dep, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            dfs(node, [])
    return found


def report(root: Path) -> dict:
    """All figures as a dict (used by the test and by :func:`main`)."""
    mods = modules(root)
    lines = {n: len(p.read_text(encoding="utf-8").splitlines()) for n, p in mods.items()}
    funcs = [f for n, p in mods.items() for f in function_sizes(p, n)]
    sizes = sorted(s for _, s in funcs)
    q = statistics.quantiles(sizes, n=100) if len(sizes) > 1 else [0] * 99
    mq = statistics.quantiles(sorted(lines.values()), n=10)
    return {
        "modules": len(lines),
        "module_median": statistics.median(lines.values()),
        "module_p90": mq[8],
        "module_max": max(lines.values()),
        "modules_over": sorted((n, k) for n, k in lines.items() if k > MODULE_LIMIT),
        "functions": len(sizes),
        "function_median": statistics.median(sizes),
        "function_p90": q[89],
        "function_p99": q[98],
        "function_share_over": sum(s > FUNCTION_LIMIT for s in sizes) / len(sizes),
        "functions_over": sorted(((n, s) for n, s in funcs if s > FUNCTION_LIMIT),
                                 key=lambda x: -x[1]),
        "private_imports": private_imports(root),
        "cycles": cycles(root),
    }


def tree(root: Path) -> list[str]:
    """``path  lines  first docstring line`` for every module, in path order."""
    out = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(text)) or ""
        first = " ".join(doc.strip().split("\n\n")[0].split())
        if len(first) > 100:
            first = first[:97].rsplit(" ", 1)[0] + " ..."
        rel = path.relative_to(root.parent).as_posix()
        out.append(f"{rel:<42} {len(text.splitlines()):>4}  {first}")
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    show_tree = "--tree" in argv
    argv = [a for a in argv if a != "--tree"]
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "caimg"
    if show_tree:
        print("\n".join(tree(root.resolve())))
        return 0
    r = report(root.resolve())
    print(f"modules: {r['modules']}, lines median {r['module_median']:.0f} / "
          f"p90 {r['module_p90']:.0f} / max {r['module_max']}")
    for n, k in r["modules_over"]:
        print(f"  over {MODULE_LIMIT}: {n} {k}")
    print(f"functions: {r['functions']}, code lines median {r['function_median']:.0f} / "
          f"p90 {r['function_p90']:.0f} / p99 {r['function_p99']:.0f}, "
          f"{100 * r['function_share_over']:.1f} % over {FUNCTION_LIMIT}")
    for n, s in r["functions_over"]:
        why = FUNCTION_ALLOWED.get(n, "")
        print(f"  over {FUNCTION_LIMIT}: {n} {s}" + (f"  (allowed: {why})" if why else ""))
    print(f"private names imported across modules: {len(r['private_imports'])}")
    for line in r["private_imports"]:
        print(f"  {line}")
    print(f"import cycles: {len(r['cycles'])}")
    for c in r["cycles"]:
        print("  " + " -> ".join(c))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
