"""ionofield memory bench: one training step per batch size, each in a FRESH Python process.

Scenario: the `bench` preset's simulated scenario (runs/bench/ionofield/scenario, simulated
if missing). For batch 512, 1024 and 2048 a new interpreter loads the scenario, builds the
model and runs one training step (forward, losses, backward, AdamW step), measuring

- peak RSS of the whole process (VmHWM: interpreter, torch, scenario, IRI cubes, step),
- the RSS increase of the first step (VmHWM after it minus VmRSS before it; the peak is
  reset through /proc/self/clear_refs),
- torch CPU allocations of the step (torch.profiler, profile_memory=True): the peak of live
  bytes allocated by torch during the second step and the total bytes it allocated.

The seed version reported 220/380/650 MB per batch (measured after two trainings in the same
process). Writes results/ionofield/memory.json.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ionofield_bench.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

OUT = Path("runs/bench/ionofield")
BATCHES = (512, 1024, 2048)
SEED_MB = {512: 220, 1024: 380, 2048: 650}


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def _step_inputs(cfg, prep, split, batch_size: int) -> tuple:  # noqa: ANN001
    import torch

    from ionofield.data import TimeBinnedBatchSampler
    from ionofield.prepare import make_batch
    from ionofield.train import build_model

    model = build_model(cfg, prep)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    hours = prep.hour_idx[torch.as_tensor(split[0])].numpy()
    sampler = TimeBinnedBatchSampler(hours, batch_size, cfg.data.bins_per_batch, 0)
    idx = torch.as_tensor(split[0][sampler.epoch(0)[0]])
    batch = make_batch(
        prep, idx, cfg.data.tec_seq_len, True, torch.device("cpu"), cfg.data.tec_stride
    )
    return model, opt, batch


def _train_step(model, opt, batch, cfg) -> None:  # noqa: ANN001
    from ionofield.train import compute_losses

    terms = compute_losses(model, batch, cfg)
    opt.zero_grad()
    terms["total"].backward()
    opt.step()


def measure(cfg, prep, split, batch_size: int) -> dict:  # noqa: ANN001
    """RSS and torch-allocation figures [MB] of one training step in this process."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    model, opt, batch = _step_inputs(cfg, prep, split, batch_size)
    Path("/proc/self/clear_refs").write_text("5")
    before = _rss_kb("VmRSS")
    _train_step(model, opt, batch, cfg)  # the first step (creates the optimizer state)
    rss_step = (_rss_kb("VmHWM") - before) / 1024.0
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _train_step(model, opt, batch, cfg)
    # every allocation (+bytes) and free (-bytes) torch made during the step, in time order
    mem = sorted(
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]"
    )
    live = torch.cumsum(torch.tensor([m for _, m in mem], dtype=torch.float64), 0)
    mb = 1024.0 * 1024.0
    return {
        "batch": batch_size,
        "peak_rss_process_mb": _rss_kb("VmHWM") / 1024.0,
        "rss_increase_step_mb": rss_step,
        "torch_peak_live_mb": float(live.max().clamp(min=0)) / mb if live.numel() else 0.0,
        "torch_allocated_mb": sum(m for _, m in mem if m > 0) / mb,
    }


def _fresh(batch: int, preset: str, scen: Path) -> dict:
    code = (
        "import sys, json, torch; torch.set_num_threads(1); sys.path.insert(0, 'bench');"
        "from ionofield_bench import measure;"
        "from ionofield.config import load; from ionofield.prepare import load_prepared;"
        f"cfg = load({preset!r}); prep, split = load_prepared(cfg, {str(scen)!r});"
        f"print(json.dumps(measure(cfg, prep, split, {batch})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"batch {batch}: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(preset: str = "bench") -> None:
    from common.results import Table, write_result
    from ionofield.config import load
    from ionofield.simulate import simulate

    scen = OUT / "scenario"
    if not (scen / "scenario.json").is_file():
        simulate(load(preset), scen)
    res = [_fresh(b, preset, scen) for b in BATCHES]
    rows = [[str(r["batch"]), str(SEED_MB[r["batch"]]), f"{r['peak_rss_process_mb']:.0f}",
             f"{r['rss_increase_step_mb']:.0f}", f"{r['torch_peak_live_mb']:.0f}",
             f"{r['torch_allocated_mb']:.0f}"] for r in res]  # fmt: skip
    table = Table(
        "memory",
        [
            "batch",
            "seed's figure [MB]",
            "peak RSS of the process [MB]",
            "RSS increase of one step [MB]",
            "torch peak live allocations [MB]",
            "torch bytes allocated in the step [MB]",
        ],  # fmt: skip
        rows,
        caption=f"One training step ({preset} preset, simulated scenario), each batch size in "
        "a fresh Python process, 1 thread; torch figures from torch.profiler "
        "(profile_memory=True) on the second step (live = allocated minus freed, peak over the "
        "step).",
    )
    path = write_result("ionofield", "memory", tables=[table], config={"preset": preset},
                        seeds=[0], title="ionofield memory per training batch",
                        raw={"runs": res})  # fmt: skip
    for row in rows:
        print(" | ".join(row))
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench")
