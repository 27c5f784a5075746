"""The package contract (issue 22): no import cycles, a light CLI and facade, one fit/load
signature, every config choice a Literal and every numeric field range-checked.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "fcpredict"


def _module_level_imports(path: Path) -> set[str]:
    """fcpredict modules imported at module level (imports inside functions are lazy)."""
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fcpredict"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("fcpredict")}
    return out


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycles() -> None:
    mods = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph = {
        m: {d for d in _module_level_imports(p) if d in mods and d != m} for m, p in mods.items()
    }
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in graph[m]:
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack, m, d]))
            if d not in state:
                visit(d, [*stack, m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_help_imports_no_torch() -> None:
    """`fcpredict [CMD] --help` stays instant (< 1 s): torch, e3nn and phonopy load only when
    a command runs. Checked by module, not by a timing that a busy machine would break.
    """
    code = (
        "import sys\n"
        "from fcpredict import api, cli\n"
        "cmds = [[], ['train'], ['predict'], ['evaluate'], ['plot'], ['make-data'], ['demo']]\n"
        "for cmd in cmds:\n"
        "    try:\n"
        "        cli.cli([*cmd, '--help'], prog_name='fcpredict')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('torch', 'e3nn', 'phonopy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_one_training_contract() -> None:
    from fcpredict import api, train

    sig = inspect.signature(train.fit)
    assert list(sig.parameters)[:2] == ["cfg", "run_dir"]
    for name in ("device", "resume", "allow_config_change"):
        assert sig.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(train.load_model).parameters) == ["path", "device"]
    assert set(api.__all__) >= {"fit", "load_model", "predict", "evaluate", "load_config"}
    assert all(callable(getattr(api, n)) or n == "Config" for n in api.__all__)


@pytest.mark.parametrize("section", ["ModelConfig", "DataConfig", "TrainConfig"])
def test_config_fields_are_typed_and_checked(section: str) -> None:
    """Choices are Literal; each int/float field refuses a value far out of range (or NaN)."""
    import dataclasses

    from fcpredict import config

    cls = getattr(config, section)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if tp is str and f.name not in ("irreps_node_embedding",):
            raise AssertionError(f"{section}.{f.name} is a plain str: use typing.Literal")
        if tp in (int, float) and not isinstance(f.default, bool):
            bad = -1e9 if tp is float else -(10**9)
            with pytest.raises(ValueError, match=f.name):
                cls(**{f.name: bad})
