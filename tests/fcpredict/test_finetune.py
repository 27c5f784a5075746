"""PFT-style fine-tuning: the Hessian-vector loss equals the relative Frobenius error on
average, a few steps towards a stiffer reference lower the validation error, the pretrained
weights are kept when validation does not improve, and the checkpoint is one ``predict`` reads.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fc_helpers import rocksalt

from fcpredict.finetune import FinetuneConfig, Material, _probe, finetune, hvp_loss, validate
from fcpredict.hessian import hessian_rows
from fcpredict.neighbours import crystal_graph

pytest.importorskip("sevenn")


@pytest.fixture(scope="module")
def stiff_nacl():
    """8-atom NaCl whose 'DFT' rows are 1.3x SevenNet-0's own (a pure softening error)."""
    from fcpredict.backbones import load_backbone

    model = load_backbone("sevennet-0", dtype=torch.float32)
    pos, cell, z = rocksalt(a=5.64, rattle=0.0)
    g = crystal_graph(pos.float(), cell.float(), z, model.cutoff)
    rows = hessian_rows(model, g, [0, 4], method="loop").detach()
    return Material("NaCl8", g, 1.3 * rows, [0, 4], []), rows


def test_probe_loss_estimates_relative_frobenius(stiff_nacl) -> None:
    from fcpredict.backbones import load_backbone

    mat, rows = stiff_nacl
    model = load_backbone("sevennet-0", dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    v, ref = _probe(mat, gen)
    assert float(hvp_loss(model, mat, v, ref, train=False)) == pytest.approx(
        (0.3 / 1.3) ** 2, rel=1e-3
    )  # H = Phi / 1.3 exactly, for any probe
    est = validate(model, [mat], probes=4, seed=0)
    assert est == pytest.approx((0.3 / 1.3) ** 2, rel=1e-3)


def test_finetune_lowers_validation_error_and_checkpoint_predicts(stiff_nacl, tmp_path) -> None:
    from fcpredict.train import load_model

    mat, _ = stiff_nacl
    cfg = FinetuneConfig(steps=4, materials_per_step=1, lr=2e-3, eval_every=2, l2sp=0.0)
    out = tmp_path / "ft.pt"
    model, hist = finetune([mat], [mat], cfg, out=out)
    first, best = hist["val"][0][1], min(s for _, s in hist["val"])
    assert best < 0.7 * first
    loaded, lcfg = load_model(out, "cpu")
    assert lcfg.model.kind == "sevennet-0"
    a = hessian_rows(model, mat.graph, [0], method="loop").detach()
    b = hessian_rows(loaded, mat.graph.to("cpu", torch.float32), [0], method="loop").detach()
    assert np.allclose(a.numpy(), b.numpy(), atol=1e-4)


def test_no_improvement_keeps_pretrained_weights(stiff_nacl) -> None:
    from fcpredict.backbones import load_backbone

    mat, rows = stiff_nacl
    same = Material("same", mat.graph, rows.clone(), mat.p2s, [])  # already exact
    cfg = FinetuneConfig(steps=2, materials_per_step=1, lr=1e-2, eval_every=1, patience=1)
    model, hist = finetune([mat], [same], cfg)  # trains towards 1.3x, validates on 1.0x
    assert hist["best_step"] == 0
    ref = load_backbone("sevennet-0", dtype=torch.float32).state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())


def test_cli_finetune_then_predict(tmp_path) -> None:
    from click.testing import CliRunner

    from fcpredict.cli import cli

    data = tmp_path / "data"
    r = CliRunner().invoke(cli, ["make-data", str(data), "--n", "2", "--dim", "1"])
    assert r.exit_code == 0, r.output
    a, b = sorted(p for p in data.iterdir() if p.is_dir())
    ck = tmp_path / "ft.pt"
    args = ["finetune", "--data", str(a), "--val", str(b), "--steps", "1", "-o", str(ck)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    out = tmp_path / "pred" / "FORCE_CONSTANTS"
    r = CliRunner().invoke(cli, ["predict", str(b), "--checkpoint", str(ck), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file()
    r = CliRunner().invoke(cli, [*args[:3], "--val", str(a), "--steps", "1", "-o", str(ck)])
    assert r.exit_code != 0 and "also a training folder" in r.output


def test_validation_guard_keeps_pretrained_when_one_material_is_harmed(stiff_nacl) -> None:
    """Two validation materials: one wants 1.3x stiffer, one is exact already. Training towards
    1.3x lowers the mean validation error but harms the exact one: with the per-material guard
    the pretrained weights stay; with the mean only (val_guard=inf) a later step is selected."""
    mat, rows = stiff_nacl
    same = Material("same", mat.graph, rows.clone(), mat.p2s, [])
    kw = dict(steps=2, materials_per_step=1, lr=5e-4, eval_every=1, patience=3, l2sp=0.0)
    _, mean_only = finetune([mat], [mat, same], FinetuneConfig(val_guard=float("inf"), **kw))
    assert mean_only["best_step"] > 0
    assert mean_only["val"][mean_only["best_step"]][1] < mean_only["val"][0][1]
    _, guarded = finetune([mat], [mat, same], FinetuneConfig(**kw))
    assert guarded["best_step"] == 0
    each = guarded["val_each"]
    assert each[1][1][1] > each[0][1][1]  # the exact material got worse at step 1


@pytest.mark.parametrize("backbone", ["sevennet-l3i5", "sevennet-mf-0"])
def test_finetune_other_backbones_checkpoint_predicts(stiff_nacl, tmp_path, backbone) -> None:
    from fcpredict.train import load_model

    mat, _ = stiff_nacl
    cfg = FinetuneConfig(backbone=backbone, steps=1, materials_per_step=1, eval_every=1)
    out = tmp_path / "ft.pt"
    model, hist = finetune([mat], [mat], cfg, out=out)
    loaded, lcfg = load_model(out, "cpu")
    assert lcfg.model.kind == backbone
    a = hessian_rows(model, mat.graph, [0], method="loop").detach()
    b = hessian_rows(loaded, mat.graph.to("cpu", torch.float32), [0], method="loop").detach()
    assert np.allclose(a.numpy(), b.numpy(), atol=1e-4)
