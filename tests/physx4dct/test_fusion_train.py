"""Fusion modes inside the real trainer and CLI: flags, logged stats, rebinding, exact resume."""

from __future__ import annotations

import json

import torch
import yaml
from click.testing import CliRunner

from common.checkpoint import load_checkpoint
from common.config import load_config
from physx4dct.cli import cli
from physx4dct.config import PRESETS_DIR, Config
from physx4dct.train import fit

FUSION = {
    "fusion.num_anchors": 32,
    "fusion.transformer_dim": 16,
    "fusion.transformer_heads": 2,
    "fusion.transformer_layers": 1,
    "fusion.phys_warmup_steps": 6,
    "fusion.eps_freeze_steps": 5,
}


def _cfg(mode: str) -> Config:
    base = {
        "train.iterations": 9,
        "train.coarse_iterations": 2,
        "train.ckpt_every": 9,
        "train.eval_every": 9,
        "train.log_every": 3,
        "gaussians.densify_from": 2,
        "gaussians.densify_until": 8,
        "gaussians.densify_every": 3,
        "gaussians.densify_grad": 1e-5,
        "fusion.fusion_mode": mode,
        **FUSION,
    }
    return load_config(Config, preset="tiny", presets_dir=PRESETS_DIR, overrides=base)


def test_fused_resume_is_exact_across_densify_and_freeze(tiny_scan_path, tmp_path):
    cfg = _cfg("bounded_perturb")
    fit(cfg, tmp_path / "full", data=tiny_scan_path)
    fit(cfg, tmp_path / "part", data=tiny_scan_path, stop_after=4)  # before the rho freeze ends
    fit(cfg, tmp_path / "part", data=tiny_scan_path, resume=True)
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")["model"]
    assert a["cloud.xyz"].shape[0] != cfg.gaussians.n_init  # densify + rebind happened
    assert a["deform.anchor.knn_idx"].shape[0] == a["cloud.xyz"].shape[0]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert float(a["deform.rho"]) != 0.0  # eps moved after the freeze (rho starts at 0)


def test_train_cli_fusion_flags_and_logged_stats(tiny_scan_path, tmp_path):
    run = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(tiny_scan_path),
        "--run-dir",
        str(run),
        "--preset",
        "tiny",
        "--iterations",
        "6",
        "--set",
        "train.coarse_iterations=2",
        "--set",
        "train.log_every=2",
        "--fusion-mode",
        "uncertainty_gated",
        "--set",
        "fusion.num_anchors=32",
        "--set",
        "fusion.transformer_dim=16",
        "--set",
        "fusion.transformer_heads=2",
        "--set",
        "fusion.gamma_max=0.004",
        "--set",
        "fusion.lambda_gate=0.001",
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    saved = yaml.safe_load((run / "config.yaml").read_text())["fusion"]
    assert saved["fusion_mode"] == "uncertainty_gated" and saved["gamma_max"] == 0.004
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    fine = [x for x in lines if "beta_mean" in x]
    assert fine, "no gate statistics logged"
    assert all(0.006 - 1e-6 <= x["beta_mean"] <= 0.014 + 1e-6 for x in fine)
    assert all("gate" in x and "s_E_mean" in x for x in fine)
    bad = CliRunner().invoke(
        cli,
        args[:3]
        + [
            "--run-dir",
            str(tmp_path / "bad"),
            "--fusion-mode",
            "fixed_alpha",
            "--set",
            "fusion.alpha=1.5",
        ],
    )
    assert bad.exit_code != 0 and "invalid config 'fusion': 'alpha'" in bad.output
    assert not (tmp_path / "bad").exists()


def test_fusion_presets_load_on_top_of_a_scale_preset():
    """presets/fusion/*.yaml are config layers (--config) holding only a fusion section."""
    files = sorted((PRESETS_DIR / "fusion").glob("*.yaml"))
    assert len(files) >= 3
    modes = set()
    for f in files:
        assert yaml.safe_load(f.read_text()).keys() == {"fusion"}
        cfg = load_config(Config, preset="tiny", presets_dir=PRESETS_DIR, config_file=f)
        assert cfg.train.iterations == 60  # the scale preset still applies
        modes.add(cfg.fusion.fusion_mode)
    assert {"fixed_alpha", "bounded_perturb", "learnable_alpha"} <= modes
