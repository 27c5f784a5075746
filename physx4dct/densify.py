"""Initialisation of the Gaussians from FDK and adaptive density control (R²-Gaussian / 3DGS).

* init: sample `n_init` voxels where FDK > threshold (probability ~ FDK value); scale = mean
  distance to the 3 nearest samples; densities rescaled so that the voxelised cloud has the
  mean of the FDK volume inside the sampled region.
* densify: Gaussians whose mean position-gradient norm exceeds `densify_grad` are cloned (small)
  or split into two samples of themselves with scales / 1.6 (large); the parent's density is
  halved for clones so the projected mass is kept (R²-Gaussian).
* prune: density below `prune_density` or scale above `max_scale_vox`.
The optimizer's Adam moments follow the surviving / copied Gaussians.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from common.errors import UserError
from physx4dct.config import GaussianConfig
from physx4dct.geometry import ConeGeometry, voxel_centres
from physx4dct.model import GaussianCloud, inverse_softplus
from physx4dct.projector import covariance_from
from physx4dct.voxelizer import full_grid, voxelize

__all__ = ["init_cloud", "densify_and_prune"]


def _knn_mean_dist(xyz: Tensor, k: int = 3, chunk: int = 2048) -> Tensor:
    out = []
    for i in range(0, xyz.shape[0], chunk):
        d = torch.cdist(xyz[i : i + chunk], xyz)
        out.append(d.topk(k + 1, largest=False).values[:, 1:].mean(-1))
    return torch.cat(out)


def init_cloud(
    fdk_vol: Tensor, geo: ConeGeometry, cfg: GaussianConfig, gen: torch.Generator
) -> GaussianCloud:
    """A cloud of `cfg.n_init` Gaussians fitted to an FDK volume (nx, ny, nz)."""
    vol = fdk_vol.clamp_min(0)
    mask = vol > cfg.init_threshold * vol.max()
    idx = torch.nonzero(mask.reshape(-1)).squeeze(1)
    if idx.numel() == 0:
        raise UserError(
            "the FDK reconstruction of the scan is empty (all projections zero?): "
            "cannot initialise the Gaussians"
        )
    prob = vol.reshape(-1)[idx]
    pick = idx[torch.multinomial(prob / prob.sum(), cfg.n_init, replacement=True, generator=gen)]
    centres = voxel_centres(geo, vol.dtype).reshape(-1, 3)
    vox = geo.voxel
    jitter = (torch.rand(cfg.n_init, 3, generator=gen, dtype=vol.dtype) - 0.5) * vox
    xyz = centres[pick] + jitter
    scale = (_knn_mean_dist(xyz) * cfg.init_scale).clamp(0.3 * vox, 4 * vox)
    log_scale = torch.log(scale)[:, None].repeat(1, 3)
    quat = torch.zeros(cfg.n_init, 4, dtype=vol.dtype)
    quat[:, 0] = 1
    rho = vol.reshape(-1)[pick] * cfg.init_density_factor
    with torch.no_grad():
        cov = covariance_from(log_scale, quat)
        vox_vol = voxelize(xyz, cov, rho, full_grid(geo))
        ratio = vol[mask].mean() / vox_vol[mask].mean().clamp_min(1e-12)
    cloud = GaussianCloud(1)
    cloud.set_tensors(xyz, log_scale, quat, inverse_softplus(rho * ratio))
    return cloud


def _swap(
    opt: torch.optim.Optimizer, old: Tensor, new: torch.nn.Parameter, index: Tensor, n_new: int
) -> None:
    """Point `opt` at `new` = old[index] ++ n_new fresh rows; Adam moments follow."""
    for group in opt.param_groups:
        for i, p in enumerate(group["params"]):
            if p is not old:
                continue
            group["params"][i] = new
            state = opt.state.pop(old, None)
            if state:
                for key in ("exp_avg", "exp_avg_sq"):
                    kept = state[key][index]
                    pad = torch.zeros(
                        (n_new, *kept.shape[1:]), dtype=kept.dtype, device=kept.device
                    )
                    state[key] = torch.cat([kept, pad])
                opt.state[new] = state
            return


def _rebuild(
    cloud: GaussianCloud, opt: torch.optim.Optimizer, keep: Tensor, extra: dict[str, Tensor]
) -> None:
    """Keep rows `keep` of every Gaussian tensor and append `extra` rows."""
    old = cloud.params()
    n_new = extra["xyz"].shape[0]
    new = {k: torch.cat([v.detach()[keep], extra[k]]) for k, v in old.items()}
    cloud.set_tensors(new["xyz"], new["log_scale"], new["quat"], new["density_raw"])
    for k, p in cloud.params().items():
        _swap(opt, old[k], p, keep, n_new)


def densify_and_prune(
    cloud: GaussianCloud,
    opt: torch.optim.Optimizer,
    cfg: GaussianConfig,
    voxel: float,
    gen: torch.Generator,
) -> dict[str, int]:
    """One round of clone / split / prune; returns counts."""
    with torch.no_grad():
        grad = cloud.grad_accum / cloud.grad_count.clamp_min(1)
        scale = torch.exp(cloud.log_scale).amax(-1)
        room = max(cfg.max_gaussians - cloud.n, 0)
        cand = torch.nonzero(grad > cfg.densify_grad).squeeze(1)
        if cand.numel() > room // 2:
            cand = cand[grad[cand].argsort(descending=True)[: room // 2]]
        big = scale[cand] > cfg.split_scale_vox * voxel
        split, clone = cand[big], cand[~big]
        dens = cloud.density()
        dens_new = dens.clone()
        dens_new[cand] = dens[cand] * 0.5
        raw = inverse_softplus(dens_new)
        # split children: sample inside the parent, scales / 1.6
        cov = covariance_from(cloud.log_scale[split], cloud.quat[split])
        chol = torch.linalg.cholesky(cov + 1e-10 * torch.eye(3, dtype=cov.dtype))
        z = torch.randn(split.numel(), 3, 1, generator=gen, dtype=cov.dtype)
        child_xyz = cloud.xyz[split] + (chol @ z)[..., 0]
        shrink = math.log(1.6)
        extra = {
            "xyz": torch.cat([cloud.xyz[clone], child_xyz]),
            "log_scale": torch.cat([cloud.log_scale[clone], cloud.log_scale[split] - shrink]),
            "quat": torch.cat([cloud.quat[clone], cloud.quat[split]]),
            "density_raw": torch.cat([raw[clone], raw[split]]),
        }
        log_scale = cloud.log_scale.detach().clone()
        log_scale[split] -= shrink
        cloud.log_scale.data.copy_(log_scale)
        cloud.density_raw.data.copy_(raw)
        keep = (dens_new > cfg.prune_density) & (scale < cfg.max_scale_vox * voxel)
        extra_keep = torch.cat([dens_new[clone], dens_new[split]]) > cfg.prune_density
        extra = {k: v[extra_keep] for k, v in extra.items()}
        _rebuild(cloud, opt, torch.nonzero(keep).squeeze(1), extra)
    return {
        "cloned": int(clone.numel()),
        "split": int(split.numel()),
        "pruned": int((~keep).sum()),
        "n": cloud.n,
    }
