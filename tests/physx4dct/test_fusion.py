"""Fusion modes: each runs optimizer steps and its defining property holds."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from click.testing import CliRunner

from physx4dct.deformation import HexPlaneConfig, HexPlaneField
from physx4dct.fusion import FUSION_MODES, FusionConfig, build_deformation
from physx4dct.fusion.ops import orthogonal_fuse, residual_transform

SMALL = dict(
    num_anchors=24,
    anchor_k=4,
    transformer_dim=16,
    transformer_heads=2,
    transformer_layers=1,
    anchor_temperature=0.05,
)


def _xyz(n: int = 300) -> torch.Tensor:
    return torch.rand(n, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1


def _hexplane(seed: int = 0) -> HexPlaneField:
    torch.manual_seed(seed)
    hp = HexPlaneField(
        HexPlaneConfig(channels=4, resolution=6, time_resolution=8, multires=(1,), hidden=16)
    )
    for head in (hp.head_dx, hp.head_ds, hp.head_dr):
        torch.nn.init.normal_(head.weight, std=0.3)  # non-zero output from step 0
    return hp


def _model(mode: str, **kw):
    cfg = FusionConfig(fusion_mode=mode, **{**SMALL, **kw})
    xyz = _xyz()
    torch.manual_seed(0)
    model = build_deformation(cfg, _hexplane(), xyz)
    if hasattr(model, "set_surrogate"):  # a breathing signal, as train.initial_model sets
        from physx4dct.surrogate import GRID

        g = torch.linspace(0, 1, GRID)
        model.set_surrogate(torch.stack([torch.sin(6.28 * g) ** 2, torch.cos(6.28 * g)]))
    return model, xyz


def _target(xyz: torch.Tensor, t: float) -> torch.Tensor:
    return 0.05 * math.sin(6.28 * t) * torch.stack([xyz[:, 2], xyz[:, 0], xyz[:, 1]], 1)


def _train(model, xyz, steps: int = 4, start: int = 0) -> list[float]:
    groups = (
        model.param_groups(1e-2)
        if hasattr(model, "param_groups")
        else [{"params": list(model.parameters()), "lr": 1e-2}]
    )
    opt = torch.optim.Adam(groups)
    losses = []
    for step in range(start, start + steps):
        t = 0.1 + 0.2 * (step % 4)
        out = model(xyz, torch.tensor(t), step)
        loss = (out.dx - _target(xyz, t)).square().mean() + sum(out.losses.values(), 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        getattr(model, "end_step", lambda: None)()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize("mode", FUSION_MODES)
def test_every_mode_trains_and_logs(mode):
    model, xyz = _model(
        mode,
        phys_warmup_steps=0,
        lp_enable=True,
        decouple_enable=True,
        eps_freeze_steps=2,
        lambda_gate=1e-3,
        lambda_consist=0.1,
        lambda_anchor_time=0.1,
    )
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    losses = _train(model, xyz, steps=4)
    assert all(torch.isfinite(torch.tensor(losses)))
    changed = [
        k
        for k, v in model.state_dict().items()
        if v.dtype.is_floating_point
        and v.shape == before[k].shape
        and not torch.equal(v, before[k])
    ]
    assert changed, "no parameter moved"
    out = model(xyz, torch.tensor(0.3), 10)
    assert out.dx.shape == (300, 3)
    expected = {
        "fixed_alpha": "alpha",
        "learnable_alpha": "alpha",
        "orthogonal": "alpha",
        "uncertainty": "w_hex_mean",
        "uncertainty_gated": "beta_mean",
        "bounded_perturb": "eps",
        "anchor": "anchor_dx_rms",
        "surrogate": "anchor_dx_rms",
    }
    if mode in expected:
        assert expected[mode] in out.stats
    if mode not in ("hexplane", "anchor", "surrogate"):
        assert {"lp", "decouple", "anchor_smooth", "phys", "consist", "anchor_time"} <= set(
            out.losses
        )


def test_spatiotemporal_tokens_inside_a_fusion():
    model, xyz = _model("fixed_alpha", st_mode=True, st_window_size=3, lambda_anchor_time=0.1)
    losses = _train(model, xyz, steps=3)
    assert all(torch.isfinite(torch.tensor(losses)))
    out = model(xyz, torch.tensor(0.5), 3)
    assert {"lagbert", "anchor_time"} <= set(out.losses) and "phys" not in out.losses
    model.eval()
    with torch.no_grad():
        assert not model(xyz, torch.tensor(0.5), 3).losses  # no loss work at evaluation


def test_alpha_zero_is_exactly_hexplane_and_one_is_anchor():
    model, xyz = _model("fixed_alpha", alpha=0.0)
    _train(model, xyz, steps=3)
    model.eval()
    fused = model(xyz, torch.tensor(0.4), 3)
    pure = model.hexplane(xyz, torch.tensor(0.4), 3)
    assert torch.equal(fused.dx, pure.dx)
    assert torch.equal(fused.dscale, pure.dscale) and torch.equal(fused.drot, pure.drot)
    assert model.anchor.head.weight.grad is None  # the anchor branch is not even evaluated
    one, _ = _model("fixed_alpha", alpha=1.0)
    anc, _ = _model("anchor")
    one.load_state_dict(anc.state_dict())
    torch.nn.init.normal_(one.anchor.head.weight, std=0.1)
    anc.load_state_dict(one.state_dict())
    a, b = one(xyz, torch.tensor(0.2), 0), anc(xyz, torch.tensor(0.2), 0)
    assert torch.equal(a.dx, b.dx) and a.dscale is None and a.drot is None


@pytest.mark.parametrize("mode", ["orthogonal", "reverse_orthogonal"])
def test_orthogonal_gradient_projection(mode):
    model, xyz = _model(mode, alpha=0.7)
    torch.nn.init.normal_(model.anchor.head.weight, std=0.1)
    captured = {}

    def keep(name):
        def hook(module, inputs, output):
            output.dx.retain_grad()
            captured[name] = output.dx

        return hook

    model.anchor.register_forward_hook(keep("anc"))
    model.hexplane.register_forward_hook(keep("hex"))
    out = model(xyz, torch.tensor(0.3), 0)
    ((out.dx - _target(xyz, 0.3)).square().sum()).backward()
    base, resid = ("hex", "anc") if mode == "orthogonal" else ("anc", "hex")
    g, b = captured[resid].grad, captured[base].detach()
    cos = (g * b).sum(1) / (g.norm(dim=1) * b.norm(dim=1))
    assert cos.abs().max() < 1e-5  # residual-branch gradient is orthogonal to the base output
    assert g.norm() > 0
    # the base branch receives the plain (unprojected) gradient
    g_base = captured[base].grad
    w_base = 0.3 if mode == "orthogonal" else 0.7
    plain = 2 * (out.dx - _target(xyz, 0.3)).detach() * w_base
    torch.testing.assert_close(g_base, plain)


def test_orthogonal_fuse_function_forward_and_strength():
    base = torch.randn(50, 3, dtype=torch.float64)
    resid = torch.randn(50, 3, dtype=torch.float64, requires_grad=True)
    out = orthogonal_fuse(base, resid, 0.2, 0.8, 0.0)
    torch.testing.assert_close(out, 0.2 * base + 0.8 * resid)
    g = torch.randn(50, 3, dtype=torch.float64)
    out.backward(g)
    torch.testing.assert_close(resid.grad, 0.8 * g)  # strength 0: plain gradient


def test_bounded_perturb_eps_in_optimizer_and_freeze():
    model, xyz = _model("bounded_perturb", eps_freeze_steps=3, residual_mode="rmsnorm")
    groups = model.param_groups(1e-2)
    rho_group = [g for g in groups if g["name"] == "rho"][0]
    assert rho_group["params"][0] is model.rho and rho_group["lr"] == 1e-3
    eps0 = float(model.epsilon(0).detach())
    assert abs(eps0 - 0.015) < 1e-6
    _train(model, xyz, steps=3)  # steps 0..2: frozen
    assert model.rho.grad is None and abs(float(model.epsilon(5).detach()) - eps0) < 1e-7
    _train(model, xyz, steps=2, start=3)  # after the freeze eps gets gradient and moves
    assert model.rho.grad is not None and model.rho.grad.abs() > 0
    assert abs(float(model.epsilon(5).detach()) - eps0) > 1e-6
    assert 0 < float(model.epsilon(5).detach()) < 0.03


def test_bounded_perturb_formula_and_warmup_cap():
    model, xyz = _model(
        "bounded_perturb",
        schedule_mode="warmup_cap",
        eps_warmup_steps=100,
        residual_mode="unitnorm",
    )
    torch.nn.init.normal_(model.anchor.head.weight, std=0.1)
    assert abs(float(model.epsilon(10).detach()) - 0.003) < 1e-7  # capped at eps_max * 10/100
    out = model(xyz, torch.tensor(0.3), 10)
    a = model.anchor(xyz, torch.tensor(0.3), 10).dx
    h = model.hexplane(xyz, torch.tensor(0.3), 10).dx
    torch.testing.assert_close(
        out.dx, 0.997 * a + 0.003 * h / h.norm(dim=1, keepdim=True), rtol=1e-4, atol=1e-6
    )


def test_residual_transforms():
    d = torch.randn(100, 3) * 5
    torch.testing.assert_close(residual_transform(d, "identity"), d)
    assert residual_transform(d, "tanh").abs().max() <= 1
    rms = residual_transform(d, "rmsnorm").square().mean(1).sqrt()
    torch.testing.assert_close(rms, torch.ones(100), atol=1e-4, rtol=0)
    unit = residual_transform(d, "unitnorm").norm(dim=1)
    torch.testing.assert_close(unit, torch.ones(100), atol=1e-4, rtol=0)


def test_learnable_alpha_has_own_group_and_moves():
    model, xyz = _model("learnable_alpha", alpha_init=0.9, alpha_lr=0.05, lambda_balance=1.0)
    group = [g for g in model.param_groups(1e-2) if g["name"] == "alpha"][0]
    assert group["lr"] == 0.05 and group["params"][0] is model.alpha_logit
    out = model(xyz, torch.tensor(0.3), 0)
    assert abs(out.stats["alpha"] - 0.9) < 1e-6
    torch.testing.assert_close(out.losses["balance"], torch.tensor(0.16), rtol=1e-4, atol=0)
    _train(model, xyz, steps=3)
    assert abs(float(torch.sigmoid(model.alpha_logit.detach())) - 0.9) > 1e-4


def test_uncertainty_gated_beta_bounds_and_gates():
    model, xyz = _model("uncertainty_gated", alpha=0.99, gamma_max=0.005)
    torch.nn.init.normal_(model.euler.mlp[-1].weight, std=2.0)
    beta, s_e = model.gate(xyz, torch.tensor(0.3))
    assert s_e.std() > 0.1
    assert (beta >= 0.005 - 1e-7).all() and (beta <= 0.015 + 1e-7).all()
    torch.testing.assert_close(beta, 0.01 + 0.005 * torch.tanh(-s_e))
    bayes, _ = _model("uncertainty_gated", gamma_max=0.0, gate_mode="bayes", sigma_L2=0.01)
    beta, _ = bayes.gate(xyz, torch.tensor(0.3))
    torch.testing.assert_close(beta, torch.full_like(beta, 0.01 / 1.01))
    sig, _ = _model(
        "uncertainty_gated", gamma_max=0.0, gate_mode="sigmoid", gate_tau=0.0, beta_max=0.3
    )
    beta, _ = sig.gate(xyz, torch.tensor(0.3))
    torch.testing.assert_close(beta, torch.full_like(beta, 0.3))  # sigmoid(0)=0.5, clamped


def test_uncertainty_inverse_variance_and_kendall():
    model, xyz = _model("uncertainty")
    with torch.no_grad():
        model.euler.mlp[-1].bias.fill_(0.0)  # sigma_hex^2 = 1
        model.anchor.logvar_head.bias.fill_(torch.log(torch.tensor(3.0)))  # sigma_anc^2 = 3
    torch.nn.init.normal_(model.anchor.head.weight, std=0.1)
    out = model(xyz, torch.tensor(0.3), 0)
    a = model.anchor(xyz, torch.tensor(0.3), 0).dx
    h = model.hexplane(xyz, torch.tensor(0.3), 0).dx
    torch.testing.assert_close(out.dx, 0.75 * h + 0.25 * a, rtol=1e-4, atol=1e-6)
    gap2 = (h - a).square().sum(1)
    kendall = 0.5 * (0.5 * gap2 / 4.0 + 0.5 * torch.log(torch.tensor(4.0))).mean()
    torch.testing.assert_close(out.losses["kendall"], kendall, rtol=1e-4, atol=1e-7)


def test_leakage_and_decoupling_regularisers():
    from physx4dct.fusion.regularizers import decoupling_loss, leakage_loss

    xyz = _xyz()
    const = torch.ones(300, 3) * 0.1
    knn = FusionConfig(lp_enable=True, lambda_lp=1.0, lp_mode="knn_mean", lp_subsample=0)
    lap = dataclasses.replace(knn, lp_mode="graph_laplacian")
    torch.testing.assert_close(leakage_loss(knn, xyz, const, 0)["lp"], torch.tensor(0.03))
    assert float(leakage_loss(lap, xyz, const, 0)["lp"]) < 1e-12  # smooth field: no roughness
    model, _ = _model(
        "fixed_alpha", decouple_enable=True, lambda_decouple=1.0, decouple_subsample=0
    )
    torch.nn.init.normal_(model.anchor.head.weight, std=0.1)
    vel = decoupling_loss(model, xyz, torch.tensor(0.3), 0)["decouple"]
    assert 0 <= float(vel.detach()) <= 1
    vel.backward()
    assert model.hexplane.head_dx.weight.grad.abs().sum() > 0
    assert model.anchor.head.weight.grad is None  # Lagrangian side detached
    jac, _ = _model(
        "fixed_alpha",
        decouple_enable=True,
        decouple_mode="stochastic_jacobian_corr",
        decouple_num_dirs=2,
        decouple_subsample=64,
    )
    torch.nn.init.normal_(jac.anchor.head.weight, std=0.1)
    assert 0 <= float(decoupling_loss(jac, xyz, torch.tensor(0.3), 0)["decouple"].detach()) <= 1


def test_distillation_teaches_only_the_anchor_branch():
    from physx4dct.fusion.regularizers import distill_loss

    cfg = FusionConfig(lambda_distill=2.0)
    hex_dx = torch.zeros(4, 3, requires_grad=True)
    anc_dx = torch.full((4, 3), 0.1, requires_grad=True)
    loss = distill_loss(cfg, hex_dx, anc_dx)["distill"]
    torch.testing.assert_close(loss, torch.tensor(2.0 * 0.03))  # 2 * |(.1,.1,.1)|^2
    loss.backward()
    assert hex_dx.grad is None and anc_dx.grad.abs().sum() > 0  # the HexPlane is the teacher
    assert distill_loss(FusionConfig(), hex_dx, anc_dx) == {}  # off by default (seed)
    model, xyz = _model("fixed_alpha", lambda_distill=1.0)
    out = model(xyz, torch.tensor(0.3), 0)
    assert "distill" in out.losses
    gap0 = float(out.losses["distill"].detach())
    model.zero_grad()
    out.losses["distill"].backward()
    assert model.hexplane.head_dx.weight.grad is None
    opt = torch.optim.Adam(model.anchor.parameters(), lr=1e-2)
    for _ in range(30):
        opt.zero_grad()
        model(xyz, torch.tensor(0.3), 0).losses["distill"].backward()
        opt.step()
    assert float(model(xyz, torch.tensor(0.3), 0).losses["distill"].detach()) < 0.5 * gap0


def test_hexplane_mode_returns_the_field_itself():
    hp = _hexplane()
    assert build_deformation(FusionConfig(), hp, _xyz()) is hp


def test_fusion_settings_are_config_keys_not_flags():
    """Only the mode has a flag; every other fusion setting is a --set key, range-checked."""
    from common.config import ConfigError
    from physx4dct.api import load_config
    from physx4dct.cli import cli

    help_text = CliRunner().invoke(cli, ["train", "--help"]).output
    for mode in FUSION_MODES:
        assert mode in help_text
    assert "--eps-max" not in help_text and "--lambda-gate" not in help_text
    assert len(help_text.splitlines()) < 60
    cfg = load_config(
        overrides={"fusion.fusion_mode": "bounded_perturb"},
        sets=["fusion.residual_mode=rmsnorm", "fusion.eps_max=0.05", "fusion.lp_enable=true"],
    )
    assert (
        cfg.fusion.eps_max == 0.05
        and cfg.fusion.lp_enable
        and cfg.fusion.residual_mode == "rmsnorm"
    )
    for bad, key in [
        ("fusion.fusion_mode=nonsense", "nonsense"),
        ("fusion.residual_mode=cubic", "cubic"),
        ("fusion.eps_init=0.5", "eps_init"),
        ("fusion.num_anchors=0", "num_anchors"),
        ("fusion.anchor_temperature=-1", "anchor_temperature"),
        ("fusion.lambda_phys=nan", "lambda_phys"),
    ]:
        with pytest.raises(ConfigError, match=key):
            load_config(sets=[bad])
    with pytest.raises(ValueError, match="eps_init"):
        FusionConfig(eps_init=0.5)
    with pytest.raises(ValueError, match="fusion_mode"):
        FusionConfig(fusion_mode="nonsense")


@pytest.mark.parametrize("mode", ["learnable_alpha", "uncertainty_gated", "bounded_perturb"])
def test_networks_decay_and_fusion_scalars_keep_their_lr(mode):
    """The trainer decays x0.1 every group marked `decay`: both networks and the Eulerian head,
    never alpha / rho (their own small lrs are the seed's)."""
    from physx4dct.train import _set_lr

    model, _ = _model(mode)
    groups = model.param_groups(1e-2)
    for g in groups:
        g["initial_lr"] = g["lr"]
    opt = torch.optim.Adam(groups)
    _set_lr(opt, 100, 100)
    decayed = {g["name"] for g in opt.param_groups if g["lr"] < g["initial_lr"]}
    kept = {g["name"] for g in opt.param_groups if g["lr"] == g["initial_lr"]}
    assert {"hexplane_grid", "hexplane_mlp", "anchor"} <= decayed
    assert not decayed & {"alpha", "rho"}
    assert kept == {g["name"] for g in groups} - decayed
    assert all(
        g["lr"] == pytest.approx(0.1 * g["initial_lr"])
        for g in opt.param_groups
        if g["name"] in decayed
    )


def test_anchor_time_grid_has_its_own_decaying_group():
    """grid time encoding: the time grid trains at the HexPlane grid lr (times its scale) in
    its own group, not at the anchor network's lr, and decays like the networks."""
    model, xyz = _model(
        "fixed_alpha", anchor_time_encoding="grid", anchor_time_cells=16, anchor_time_lr_scale=0.5
    )
    groups = {g["name"]: g for g in model.param_groups(1e-2)}
    grid = groups["anchor_time_grid"]
    assert grid["params"] == [model.anchor.time_grid] and grid["decay"]
    assert grid["lr"] == pytest.approx(0.5e-2)
    assert all(p is not model.anchor.time_grid for p in groups["anchor"]["params"])
    n_all = sum(len(g["params"]) for g in groups.values())
    assert n_all == len(list(model.parameters()))
    before = model.anchor.time_grid.detach().clone()
    _train(model, xyz, steps=4)
    assert (model.anchor.time_grid.detach() - before).abs().max() > 1e-4  # it trains
