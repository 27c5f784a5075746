"""ionofield benchmark: IRI alone vs ionofield vs ionofield without the TEC-direction loss.

One run on a held-out time split (every 4th 3-hour block) of a simulated 2-day scenario
(2015-03-16/17: a quiet day, then the St Patrick's Day storm, real Kp/F10.7):
log10 Ne RMSE against the simulated truth (`log10_ne_true`) and against the noisy observations,
on in-situ and profile observations, quiet vs storm hours (Kp >= 5); VTEC
RMSE against the TEC maps; peak memory per training batch at 512/1024/2048 (CPU: VmHWM
after resetting it through /proc/self/clear_refs, minus the RSS before the step); evaluation
speed-up of the hourly TEC-context cache. Writes runs/bench/ionofield/{bench.json,bench.md}.

    .venv/bin/python bench/ionofield_bench.py [--steps 3000] [--preset bench]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

OUT = Path("runs/bench/ionofield")


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def peak_batch_memory_mb(cfg, prep, split, batch_size: int) -> float:
    """Peak RSS increase [MB] of one training step (forward, losses, backward, Adam step)."""
    from ionofield.data import TimeBinnedBatchSampler
    from ionofield.prepare import make_batch
    from ionofield.train import build_model, compute_losses

    model = build_model(cfg, prep)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    hours = prep.hour_idx[torch.as_tensor(split[0])].numpy()
    sampler = TimeBinnedBatchSampler(hours, batch_size, cfg.data.bins_per_batch, 0)
    idx = torch.as_tensor(split[0][sampler.epoch(0)[0]])
    batch = make_batch(
        prep, idx, cfg.data.tec_seq_len, True, torch.device("cpu"), cfg.data.tec_stride
    )
    Path("/proc/self/clear_refs").write_text("5")
    before = _rss_kb("VmRSS")
    terms = compute_losses(model, batch, cfg)
    opt.zero_grad()
    terms["total"].backward()
    opt.step()
    return (_rss_kb("VmHWM") - before) / 1024.0


def _stale(scen: Path, cfg) -> bool:
    """True when the cached scenario is missing or was simulated with another sim/IRI config."""
    from common.config import to_dict

    meta = scen / "scenario.json"
    if not meta.is_file():
        return True
    saved, now = json.loads(meta.read_text()).get("config", {}), to_dict(cfg)
    return any(saved.get(k) != now[k] for k in ("sim", "iri"))


def train_variant(cfg, scen: Path, run_dir: Path) -> tuple[dict, float]:
    from dataclasses import replace

    from ionofield.api import fit, load_model

    t = time.time()
    fit(replace(cfg, data=replace(cfg.data, scenario=str(scen))), run_dir, device="cpu")
    return load_model(run_dir)[0], time.time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None, help="training steps (preset's by default)")
    ap.add_argument("--preset", default="bench")
    args = ap.parse_args()
    from common.config import to_dict
    from ionofield.config import load
    from ionofield.evaluate import evaluate
    from ionofield.iri import IRIBackground
    from ionofield.prepare import load_prepared
    from ionofield.simulate import simulate

    torch.set_num_threads(1)
    cfg = load(args.preset, overrides={"train.steps": args.steps})
    # one validation at the end: the held-out split never selects a checkpoint
    cfg = load(
        args.preset, overrides={"train.steps": cfg.train.steps, "train.eval_every": cfg.train.steps}
    )
    scen = OUT / "scenario"
    if _stale(scen, cfg):
        simulate(cfg, scen)
    prep, split = load_prepared(cfg, scen)
    bg = IRIBackground(cfg.iri)
    results: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",  # noqa: E501
        "config": to_dict(cfg),
        "n_train": int(split[0].size),
        "n_heldout": int(split[1].size),
    }
    for name, w in (("ionofield", cfg.loss.w_tec_direction), ("ionofield_no_tec", 0.0)):
        from dataclasses import replace

        c = replace(cfg, loss=replace(cfg.loss, w_tec_direction=w))
        model, secs = train_variant(c, scen, OUT / name)
        results[name] = evaluate(model, prep, split[1], c, bg, cfg.sim.storm_kp) | {"train_s": secs}
    results["peak_batch_memory_mb"] = {
        b: peak_batch_memory_mb(cfg, prep, split, b) for b in (512, 1024, 2048)
    }
    (OUT / "bench.json").write_text(json.dumps(results, indent=1, default=float))
    (OUT / "bench.md").write_text(table(results))
    print(table(results))


ROWS = ("all", "insitu_quiet", "insitu_storm", "profile_quiet", "profile_storm")


def _rmse_rows(r: dict, model_key: str, iri_key: str) -> list[str]:
    a, b = r["ionofield"]["points"], r["ionofield_no_tec"]["points"]
    rows = []
    for key in ROWS:
        if a[key]["n"] and model_key in a[key]:
            gain = 100 * (1 - a[key][model_key] / a[key][iri_key])
            rows.append(
                f"| {key} | {a[key]['n']} | {a[key][iri_key]:.4f} | {a[key][model_key]:.4f} | "
                f"{b[key][model_key]:.4f} | {gain:.0f}% lower |"
            )
    return rows


def table(r: dict) -> str:
    """Markdown tables: held-out RMSE vs the simulated truth and vs the noisy observations."""
    head = "| {} | n | IRI | ionofield | no TEC loss | ionofield vs IRI |\n" + "|---" * 6 + "|"
    rows = [head.format("held-out log10 Ne RMSE vs simulated truth (`log10_ne_true`)")]
    rows += _rmse_rows(r, "model_vs_truth", "iri_vs_truth")
    rows += ["", head.format("held-out log10 Ne RMSE vs noisy observations (noise 0.04/0.06)")]
    rows += _rmse_rows(r, "model", "iri")
    rows.append(
        f"| VTEC RMSE vs TEC maps [TECU] | | {r['ionofield']['vtec_rmse_iri']:.2f} | "
        f"{r['ionofield']['vtec_rmse_model']:.2f} | {r['ionofield_no_tec']['vtec_rmse_model']:.2f} | |"  # noqa: E501
    )
    mem = r["peak_batch_memory_mb"]
    ctx = r["ionofield"].get("tec_context", {})
    rows += [
        "",
        "| batch | 512 | 1024 | 2048 |",
        "|---|---|---|---|",
        f"| peak memory per training batch [MB] | {mem[512]:.0f} | {mem[1024]:.0f} | {mem[2048]:.0f} |",  # noqa: E501
        "",
        f"TEC-context cache: {ctx.get('speedup', float('nan')):.1f}x faster evaluation "
        f"(hit rate {ctx.get('hit_rate', float('nan')):.2f}); training {r['ionofield']['train_s']:.0f} s / "  # noqa: E501
        f"{r['ionofield_no_tec']['train_s']:.0f} s; {r['n_train']} train / {r['n_heldout']} held-out obs; "  # noqa: E501
        f"{r['machine']}.",
    ]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
