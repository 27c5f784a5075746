"""Config layering: precedence, conversion to field types, and errors that name the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from common.config import ConfigError, from_dict, load_config, save_yaml, to_dict


@dataclass(frozen=True)
class Optim:
    """Nested section."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    warmup: int = 0


@dataclass(frozen=True)
class Cfg:
    """Top-level test config."""

    name: str = "base"
    steps: int = 10
    use_ema: bool = False
    mode: str | None = None
    optim: Optim = field(default_factory=Optim)


def _yaml(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_precedence_defaults_preset_file_cli_set(tmp_path: Path) -> None:
    presets = tmp_path / "presets"
    presets.mkdir()
    _yaml(presets, "tiny.yaml", "name: tiny\nsteps: 2\noptim: {lr: 1.0e-2, warmup: 5}\n")
    cfg_file = _yaml(tmp_path, "run.yaml", "steps: 3\noptim:\n  lr: 3e-4\n")
    cfg = load_config(
        Cfg,
        preset="tiny",
        presets_dir=presets,
        config_file=cfg_file,
        overrides={"steps": 4, "use_ema": None, "optim.warmup": 7},
        sets=["optim.warmup=9", "use_ema=true"],
    )
    assert cfg.name == "tiny"  # preset beats default
    assert cfg.steps == 4  # CLI beats file beats preset
    assert cfg.optim.lr == pytest.approx(3e-4) and isinstance(cfg.optim.lr, float)  # YAML '3e-4'
    assert cfg.optim.warmup == 9  # --set beats CLI
    assert cfg.use_ema is True
    assert cfg.optim.betas == (0.9, 0.999)  # untouched default survives nested merge


def test_defaults_only() -> None:
    assert load_config(Cfg) == Cfg()


def test_unknown_key_names_key_and_suggests(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'optim\.lrr'.*'optim\.lr'"):
        load_config(Cfg, sets=["optim.lrr=1"])
    bad = _yaml(tmp_path, "bad.yaml", "stepz: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown config key 'stepz'"):
        load_config(Cfg, config_file=bad)


@pytest.mark.parametrize(
    ("item", "pattern"),
    [
        ("steps=abc", r"'steps' expects an integer"),
        ("steps=2.5", r"'steps' expects an integer"),
        ("use_ema=maybe", r"'use_ema' expects true or false"),
        ("optim.lr=fast", r"'optim\.lr' expects a number"),
        ("optim.betas=[0.9]", r"'optim\.betas' expects a list of 2 values"),
        ("optim=3", r"'optim' expects a mapping"),
    ],
)
def test_wrong_types_name_the_key(item: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        load_config(Cfg, sets=[item])


def test_conversions() -> None:
    cfg = load_config(Cfg, sets=["steps=1e3", "optim.betas=[0.5, 0.6]", "name=42", "mode=fast"])
    assert cfg.steps == 1000 and isinstance(cfg.steps, int)
    assert cfg.optim.betas == (0.5, 0.6)
    assert cfg.name == "42" and cfg.mode == "fast"


def test_unknown_preset_lists_available(tmp_path: Path) -> None:
    (tmp_path / "cpu.yaml").write_text("steps: 1\n")
    with pytest.raises(ConfigError, match=r"unknown preset 'gpu' \(available: cpu\)"):
        load_config(Cfg, preset="gpu", presets_dir=tmp_path)


def test_malformed_set_and_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(Cfg, sets=["steps"])
    broken = _yaml(tmp_path, "broken.yaml", "steps: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Cfg, config_file=broken)


def test_round_trip_dict_and_yaml(tmp_path: Path) -> None:
    cfg = load_config(Cfg, sets=["optim.lr=0.5", "mode=x"])
    assert from_dict(Cfg, to_dict(cfg)) == cfg
    save_yaml(cfg, tmp_path / "c.yaml")
    assert load_config(Cfg, config_file=tmp_path / "c.yaml") == cfg
