"""The layout rules of the repository: no import cycles, tools import only ``common``, ``common``
imports no tool, every tool has the same skeleton, and ``--help`` does not import torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("nrfix", "ionofield", "physx4dct", "fcpredict")
PACKAGES = ("common", *TOOLS)
SKELETON = ("config.py", "model.py", "train.py", "api.py", "cli.py", "__main__.py")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Modules of the repository that ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    pkg = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] in PACKAGES}


def _graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]
    names = {_module_name(p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        graph[name] = {m for m in _imports(path) if m in names and m != name}
    return graph


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_tools_import_only_common() -> None:
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                mods = []
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    mods = [node.module]
                for mod in mods:
                    top = mod.split(".")[0]
                    if top in TOOLS and top != pkg:
                        pytest.fail(f"{path.relative_to(REPO)} imports another package: {mod}")


@pytest.mark.parametrize("tool", TOOLS)
def test_same_skeleton(tool: str) -> None:
    missing = [f for f in SKELETON if not (REPO / tool / f).is_file()]
    assert not missing, f"{tool} lacks {missing}"
    train = ast.parse((REPO / tool / "train.py").read_text())
    funcs = {n.name: n for n in train.body if isinstance(n, ast.FunctionDef)}
    assert "fit" in funcs and "load_model" in funcs, f"{tool}/train.py needs fit and load_model"
    fit = funcs["fit"].args
    assert [a.arg for a in fit.args[:2]] == ["cfg", "run_dir"]
    assert {"device", "resume"} <= {a.arg for a in fit.kwonlyargs}
    model = ast.parse((REPO / tool / "model.py").read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "build_model" for n in model.body)


@pytest.mark.parametrize("tool", TOOLS)
def test_cli_import_is_light(tool: str) -> None:
    """`<tool> --help` must not import torch (that alone costs seconds)."""
    heavy = "('torch', 'scipy', 'matplotlib')"
    code = f"import sys, {tool}.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"{tool}.cli imports {out.stdout.strip()} at import time"


def _undocumented(cmd, path: list[str]) -> list[str]:
    """Options without help text and commands without a docstring, walked recursively."""
    import click

    out = [
        f"{' '.join(path)} {'/'.join(p.opts)}"
        for p in cmd.params
        if isinstance(p, click.Option) and not (p.help or "").strip()
    ]
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            out += _undocumented(sub, [*path, name])
    elif not (cmd.help or "").strip():
        out.append(f"{' '.join(path)}: no help text")
    return out


@pytest.mark.parametrize("tool", TOOLS)
def test_every_command_and_option_has_help(tool: str) -> None:
    """`--help` on every command and option says what it does (no bare option names)."""
    import importlib

    cli = importlib.import_module(f"{tool}.cli").cli
    assert _undocumented(cli, [tool]) == []
