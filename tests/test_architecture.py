"""Module boundaries: no module reaches into another module's private names.

Every module under ``chequereader/`` and ``benchmarks/`` is parsed (not imported) and its
imports and attribute accesses are checked:

- ``from M import _name`` of a function, class or variable is refused whatever ``M`` is
  (a module's own private names stay its own: make the name public to share it);
- a private *module* (``chequereader/io/_codec_log.py``, ``benchmarks/_common.py``) may be imported
  only from inside its own tree (``chequereader`` or ``benchmarks``): it is that tree's
  internal helper, not an API;
- ``module._name`` on a name bound to one of these modules is refused.

Dunder names (``__version__``, ``__file__``) are public.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ("chequereader", "benchmarks")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _modules() -> dict[str, tuple[Path, str, bool]]:
    """Module name -> (file, tree, is a package). ``benchmarks`` scripts run with their folder
    on ``sys.path``, so their modules are top-level names."""
    out: dict[str, tuple[Path, str, bool]] = {}
    for tree in TREES:
        for p in sorted((ROOT / tree).rglob("*.py")):
            rel = p.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if tree == "benchmarks":
                parts = parts[1:]
            pkg = parts[-1] == "__init__"
            if pkg:
                parts = parts[:-1]
            if parts:
                out[".".join(parts)] = (p, tree, pkg)
    return out


MODULES = _modules()


def _resolve(importer: str, is_pkg: bool, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([module] if module else [])])


def _tree_of(module: str) -> str | None:
    got = MODULES.get(module)
    return got[1] if got else None


def _private_module_outside(module: str, tree: str) -> bool:
    """``module`` is (inside) a private module of another tree than ``tree``."""
    other = _tree_of(module)
    if other is None or other == tree:
        return False
    return any(_private(part) for part in module.split("."))


def _violations(name: str, path: Path, tree: str, is_pkg: bool) -> list[str]:
    src = ast.parse(path.read_text(), str(path))
    bound: dict[str, str] = {}  # local name -> project module it is bound to
    out: list[str] = []
    where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    for node in ast.walk(src):
        if isinstance(node, ast.Import):
            for a in node.names:
                if _tree_of(a.name) is None:
                    continue
                if _private_module_outside(a.name, tree):
                    out.append(f"{where}:{node.lineno}: import {a.name}")
                if a.asname:
                    bound[a.asname] = a.name
                else:
                    bound[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(name, is_pkg, node.module, node.level)
            if _tree_of(mod) is None:
                continue
            if _private_module_outside(mod, tree):
                out.append(f"{where}:{node.lineno}: from {mod} import ...")
            for a in node.names:
                sub = f"{mod}.{a.name}"
                if sub in MODULES:
                    bound[a.asname or a.name] = sub
                    if _private_module_outside(sub, tree):
                        out.append(f"{where}:{node.lineno}: from {mod} import {a.name}")
                elif _private(a.name):
                    out.append(f"{where}:{node.lineno}: from {mod} import {a.name}")
    for node in ast.walk(src):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            chain = []
            v: ast.expr = node.value
            while isinstance(v, ast.Attribute):
                chain.append(v.attr)
                v = v.value
            if isinstance(v, ast.Name) and v.id in bound:
                target = ".".join([bound[v.id], *reversed(chain)])
                if target in MODULES and target != name:
                    out.append(f"{where}:{node.lineno}: {target}.{node.attr}")
    return out


def test_the_module_list_is_found() -> None:
    assert "chequereader.decode" in MODULES and "chequereader.train.fields" in MODULES
    assert "fields_bench" in MODULES and MODULES["chequereader"][2]


def test_the_checker_sees_what_it_refuses(tmp_path: Path) -> None:
    p = tmp_path / "m.py"
    p.write_text("from ..decode import _trie, decode\n"
                 "from ..io import _codec_log\n"
                 "from chequereader import synth\n"
                 "import chequereader.decode as d\n"
                 "x = synth._group, d._pairs, synth.generate, d.__name__\n")
    got = _violations("chequereader.train.m", p, "chequereader", False)
    assert [g.split(": ", 1)[1] for g in got] == [
        "from chequereader.decode import _trie", "chequereader.synth._group",
        "chequereader.decode._pairs"]
    # a private module is its own tree's: chequereader's may not be imported by a benchmark
    p.write_text("from chequereader.io._codec_log import x\nfrom _common import DATA\n"
                 "from chequereader.io import _codec_log\n")
    got = _violations("bench", p, "benchmarks", False)
    assert [g.split(": ", 1)[1] for g in got] == [
        "from chequereader.io._codec_log import ...", "from chequereader.io import _codec_log"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_uses_another_modules_private_names(name: str) -> None:
    path, tree, is_pkg = MODULES[name]
    assert _violations(name, path, tree, is_pkg) == []
