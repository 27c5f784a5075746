"""Hostile and broken input: every file-taking subcommand and every numeric option.

Each case asserts a non-zero exit, exactly one ``Error:`` line naming the file or option and
the problem, no traceback, no payload executed, and no output left behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ionofield.cli import cli

TIME = "2015-03-16T06:00:00Z"


def check_refused(result, *needles: str) -> str:
    """Non-zero exit, no traceback, one ``Error:`` line holding every needle; returns it."""
    out = result.output
    assert result.exit_code not in (0, None), out
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # no crash
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, out
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def invoke(args: list[str]):
    return CliRunner().invoke(cli, [str(a) for a in args])


# --- broken scenario folders -------------------------------------------------------------


def _h5_edit(folder: Path, fn: Callable[[h5py.Group], None]) -> None:
    with h5py.File(folder / "observations.h5", "a") as f:
        fn(f["observations"])


def _set_value(name: str, row: int, value: float) -> Callable[[h5py.Group], None]:
    def edit(g: h5py.Group) -> None:
        x = g[name][()]
        x[row] = value
        g[name][...] = x

    return edit


def _replace(name: str, new: Callable[[np.ndarray], np.ndarray]) -> Callable[[h5py.Group], None]:
    def edit(g: h5py.Group) -> None:
        x = g[name][()]
        del g[name]
        g[name] = new(x)

    return edit


def _tec_file(folder: Path) -> Path:
    return sorted((folder / "tec").iterdir())[0]


def _all_missing_map(folder: Path) -> None:
    from ionofield.ionex import read_ionex, write_ionex

    path = _tec_file(folder)
    maps = read_ionex(path)
    tec = maps.tec_tecu.copy()
    tec[3] = np.nan
    write_ionex(path, dataclasses.replace(maps, tec_tecu=tec))


def _tec_token(path: Path, token: str) -> None:
    lines = path.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if "LAT/LON1/LON2/DLON/H" in line) + 1
    lines[i] = f"{token:>5}" + lines[i][5:]
    path.write_text("\n".join(lines) + "\n")


def _drop_map(folder: Path, k: int = 5) -> None:
    """Remove the k-th map of the first TEC file: the hourly series has a gap."""
    from ionofield.ionex import read_ionex, write_ionex

    path = _tec_file(folder)
    m = read_ionex(path)
    keep = [i for i in range(len(m.epochs)) if i != k]
    write_ionex(path, dataclasses.replace(m, epochs=[m.epochs[i] for i in keep],
                                          tec_tecu=m.tec_tecu[keep], rms_tecu=None))  # fmt: skip


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _csv(folder: Path, text: str) -> None:
    (folder / "observations.h5").unlink()
    (folder / "observations.csv").write_text(text)


SCENARIO_CASES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # name: (how to break a copy of the scenario, file named in the error, problem text)
    "obs-missing": (lambda d: (d / "observations.h5").unlink(), "", "no observations.h5"),
    "obs-empty": (lambda d: (d / "observations.h5").write_bytes(b""), "observations.h5", "HDF5"),
    "obs-truncated": (lambda d: _truncate(d / "observations.h5"), "observations.h5", "HDF5"),
    "obs-wrong-format": (
        lambda d: (d / "observations.h5").write_text("lat,lon\n1,2\n"),
        "observations.h5",
        "not a readable HDF5",
    ),
    "obs-nan": (
        lambda d: _h5_edit(d, _set_value("log10_ne", 3, np.nan)),
        "observations.h5",
        "NaN/inf",
    ),
    "obs-inf": (
        lambda d: _h5_edit(d, _set_value("time_s", 5, np.inf)),
        "observations.h5",
        "NaN/inf",
    ),
    "obs-wrong-shape": (
        lambda d: _h5_edit(d, _replace("lat", lambda x: x[:-3])),
        "observations.h5",
        "unequal length",
    ),
    "obs-2d-column": (
        lambda d: _h5_edit(d, _replace("alt_km", lambda x: np.stack([x, x], 1))),
        "observations.h5",
        "not 1-D",
    ),
    "obs-not-numeric": (
        lambda d: _h5_edit(d, _replace("lat", lambda x: np.array([b"a"] * x.size))),
        "observations.h5",
        "'lat' is not numeric",
    ),
    "obs-missing-column": (
        lambda d: _h5_edit(d, lambda g: g.__delitem__("alt_km")),
        "observations.h5",
        "missing column(s) alt_km",
    ),
    "obs-latitude-100": (
        lambda d: _h5_edit(d, _set_value("lat", 0, 100.0)),
        "observations.h5",
        "latitude outside",
    ),
    "obs-nan-optional": (
        lambda d: _h5_edit(d, _replace("source", lambda x: np.full(x.size, np.nan))),
        "observations.h5",
        "'source' holds NaN",
    ),
    "csv-empty": (lambda d: _csv(d, ""), "observations.csv", "empty CSV"),
    "csv-not-numeric": (
        lambda d: _csv(d, "lat,lon,alt_km,time_s,log10_ne\n1,2,x,4,5\n"),
        "observations.csv",
        "non-numeric",
    ),
    "tec-none": (lambda d: _tec_file(d).unlink(), "tec", "no IONEX files"),
    "tec-empty": (lambda d: _tec_file(d).write_text(""), ".15i", "not an IONEX file"),
    "tec-truncated": (lambda d: _truncate(_tec_file(d)), ".15i", "truncated"),
    "tec-binary": (lambda d: _tec_file(d).write_bytes(os.urandom(4000)), ".15i", "IONEX"),
    "tec-nan": (lambda d: _tec_token(_tec_file(d), "NaN"), ".15i", "non-integer map value"),
    "tec-all-missing": (_all_missing_map, ".15i", "no values (all 9999)"),
    "tec-negative": (lambda d: _tec_token(_tec_file(d), "-50"), ".15i", "negative TEC value -5"),
    "tec-gap": (_drop_map, "tec", "hourly and contiguous (gap after"),
    "tec-ends-before-obs": (
        lambda d: _h5_edit(
            d,
            _replace(
                "time_s", lambda x: np.where(np.arange(x.size) == 0, x.max() + 2 * 86400.0, x)
            ),
        ),  # fmt: skip
        "",
        "1 observations fall outside the time span",
    ),
    "json-malformed": (
        lambda d: (d / "scenario.json").write_text("{not json"),
        "scenario.json",
        "not valid JSON",
    ),
    "json-truncated": (lambda d: _truncate(d / "scenario.json"), "scenario.json", "not valid JSON"),
    "json-empty": (lambda d: (d / "scenario.json").write_text(""), "scenario.json", "JSON"),
    "json-list": (
        lambda d: (d / "scenario.json").write_text("[1, 2]"),
        "scenario.json",
        "expected a JSON object",
    ),
}


@pytest.fixture(params=sorted(SCENARIO_CASES))
def bad_scenario(request, tiny_scenario, tmp_path):
    """(a broken copy of the tiny scenario, file named in the error, problem text)."""
    breaker, where, problem = SCENARIO_CASES[request.param]
    folder = tmp_path / "scenario"
    shutil.copytree(tiny_scenario, folder)
    breaker(folder)
    return folder, where, problem


@pytest.mark.parametrize("command", ["train", "evaluate", "plot"])
def test_bad_scenario(command, bad_scenario, trained, iri_cache, tmp_path):
    folder, where, problem = bad_scenario
    out = tmp_path / "out"
    if command == "train":
        args = ["train", "--scenario", folder, "--preset", "tiny", "--run-dir", out]
        args += ["--device", "cpu", "--set", f"iri.cache_dir={iri_cache}"]
    elif command == "evaluate":
        args = ["evaluate", "--run", trained, "--scenario", folder, "--out", out / "e.json"]
    else:
        args = ["plot", "--run", trained, "--scenario", folder, "--out", out]
    check_refused(invoke(args), str(folder), where, problem)
    assert not out.exists()  # data are checked before anything is written


# --- broken checkpoints ------------------------------------------------------------------


class _Payload:
    """Unpickling this would create a marker file (a code-execution attempt)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _edited_checkpoint(src: Path, dst: Path, edit: Callable[[dict], None]) -> None:
    ckpt = torch.load(src, weights_only=True)
    edit(ckpt)
    torch.save(ckpt, dst)


def _nan_weight(ckpt: dict) -> None:
    name = next(k for k, v in ckpt["model"].items() if v.is_floating_point() and v.numel() > 1)
    ckpt["model"][name] = ckpt["model"][name].clone().fill_(float("nan"))


def _narrow_weights(ckpt: dict) -> None:
    ckpt["model"] = {k: v[..., :1] if v.ndim > 1 else v for k, v in ckpt["model"].items()}


def _bad_config(ckpt: dict) -> None:
    ckpt["config"]["model"]["spatial_hidden"] = 0


CKPT_CASES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "empty": (lambda src, dst: dst.write_bytes(b""), "not a physics-ml checkpoint"),
    "truncated": (
        lambda src, dst: dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2]),
        "not a physics-ml checkpoint",
    ),
    "wrong-format": (lambda src, dst: dst.write_text('{"step": 1}'), "not a physics-ml checkpoint"),
    "foreign-zip": (lambda src, dst: torch.save({"a": torch.zeros(2)}, dst), "not a physics-ml"),
    "nan-weights": (
        lambda src, dst: _edited_checkpoint(src, dst, _nan_weight),
        "NaN/Inf values in model state",
    ),
    "wrong-shape": (
        lambda src, dst: _edited_checkpoint(src, dst, _narrow_weights),
        "weights do not fit the stored config",
    ),
    "bad-config": (
        lambda src, dst: _edited_checkpoint(src, dst, _bad_config),
        "'spatial_hidden' must be > 0",
    ),
    "pickle-payload": (
        lambda src, dst: torch.save({"x": _Payload(dst.parent / "MARKER")}, dst),
        "refused: it holds Python objects",
    ),
}


@pytest.mark.parametrize("command", ["evaluate", "predict", "plot"])
@pytest.mark.parametrize("case", sorted(CKPT_CASES))
def test_bad_checkpoint(command, case, trained, tiny_scenario, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    ckpt = run / "checkpoints" / "best.pt"
    make, problem = CKPT_CASES[case]
    make(trained / "checkpoints" / "best.pt", ckpt)
    out = tmp_path / "out"
    target = run if command == "plot" else ckpt
    args = {
        "evaluate": ["evaluate", "--scenario", tiny_scenario, "--out", out / "e.json"],
        "predict": ["predict", "--time", TIME, "--lat", "0:10:10", "--out", out / "p.h5"],
        "plot": ["plot", "--scenario", tiny_scenario, "--out", out],
    }[command]
    check_refused(invoke([*args, "--run", target]), "best.pt", problem)
    assert not out.exists() and not (ckpt.parent / "MARKER").exists()


def test_missing_files_named(trained, tiny_scenario, tmp_path):
    nowhere = tmp_path / "nowhere"
    check_refused(invoke(["evaluate", "--run", nowhere, "--scenario", tiny_scenario]), "--run")
    check_refused(invoke(["evaluate", "--run", trained, "--scenario", nowhere]), "--scenario")
    check_refused(invoke(["predict", "--run", nowhere, "--time", TIME, "--out", "x.h5"]), "--run")
    check_refused(invoke(["plot", "--run", trained, "--scenario", nowhere]), "--scenario")
    args = ["train", "--scenario", tiny_scenario, "--run-dir", tmp_path / "r", "--config", nowhere]
    check_refused(invoke(args), "--config")
    args = ["train", "--preset", "tiny", "--run-dir", tmp_path / "r"]
    check_refused(invoke(args), "data.scenario", "no scenario folder given")
    assert not (tmp_path / "r").exists()


# --- resume ------------------------------------------------------------------------------


def test_resume_refusals(trained, tiny_scenario, iri_cache, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    base = ["train", "--scenario", tiny_scenario, "--preset", "tiny", "--run-dir", run]
    base += ["--device", "cpu", "--set", f"iri.cache_dir={iri_cache}", "--resume"]
    line = check_refused(invoke([*base, "--set", "model.spatial_hidden=16"]), "last.pt")
    assert "model.spatial_hidden" in line and "--allow-config-change" in line
    line = check_refused(invoke([*base, "--set", "data.seq_len=4"]), "data.seq_len")
    (run / "checkpoints" / "last.pt").write_bytes(b"junk")
    check_refused(invoke(base), "last.pt", "not a physics-ml checkpoint")
    (run / "checkpoints" / "last.pt").unlink()
    check_refused(invoke(base), str(run), "no checkpoints/last.pt")
    after = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    assert {p: t for p, t in after.items()} == {
        p: t for p, t in before.items() if p.name != "last.pt"
    }


def test_resume_allow_config_change(trained, tiny_scenario, iri_cache, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    args = ["train", "--scenario", tiny_scenario, "--preset", "tiny", "--run-dir", run]
    args += ["--device", "cpu", "--set", f"iri.cache_dir={iri_cache}", "--resume"]
    args += ["--steps", "22", "--set", "data.holdout_every=5", "--allow-config-change"]
    res = invoke(args)
    assert res.exit_code == 0, res.output
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 22


def test_stale_tmp_cleaned(trained, tiny_scenario, iri_cache, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    orphan = run / "checkpoints" / ".last.pt.abc123.tmp.pt"
    orphan.write_bytes(b"half a checkpoint")
    args = ["train", "--scenario", tiny_scenario, "--preset", "tiny", "--run-dir", run]
    args += ["--device", "cpu", "--set", f"iri.cache_dir={iri_cache}", "--resume"]
    assert invoke(args).exit_code == 0
    assert not orphan.exists()


# --- config files and options ------------------------------------------------------------

CONFIG_CASES = {
    "not-yaml": ("train: [1", "not valid YAML"),
    "list": ("- 1\n- 2\n", "expected a mapping"),
    "unknown-key": ("train: {stepz: 3}", "unknown config key 'train.stepz'"),
    "nan": ("train: {lr: .nan}", "not NaN"),
    "zero-steps": ("train: {steps: 0}", "'steps' must be > 0"),
    "wrong-type": ("train: {steps: many}", "expects an integer"),
    "choice-typo": ("loss: {likelihood: nl}", "one of ['nll', 'mse']"),
    "binary": ("\x00\x01\x02", "not valid YAML"),
    "yaml-payload": ("!!python/object/apply:os.system ['touch MARKER']", "not valid YAML"),
}


@pytest.mark.parametrize("command", ["train", "simulate"])
@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_file(command, case, tiny_scenario, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text, problem = CONFIG_CASES[case]
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    out = tmp_path / "out"
    if command == "train":
        args = ["train", "--scenario", tiny_scenario, "--run-dir", out, "--config", cfg]
    else:
        args = ["simulate", "--out", out, "--config", cfg]
    check_refused(invoke(args), problem)
    assert not out.exists() and not (tmp_path / "MARKER").exists()


OPTION_CASES = [
    # (command, arguments, text the error line must hold)
    ("train", ["--steps", "0"], "--steps"),
    ("train", ["--steps", "-3"], "--steps"),
    ("train", ["--seed", "-1"], "--seed"),
    ("train", ["--set", "train.seed=-1"], "'seed' must be >= 0"),
    ("train", ["--set", "train.steps=0"], "'steps' must be > 0"),
    ("train", ["--set", "train.batch_size=0"], "'batch_size' must be > 0"),
    ("train", ["--set", "train.lr=-1e-3"], "'lr' must be > 0"),
    ("train", ["--set", "train.lr=nan"], "not NaN"),
    ("train", ["--set", "train.lr_floor=2"], "'lr_floor' must be >= 0 and <= 1"),
    ("train", ["--set", "model.spatial_hidden=0"], "'spatial_hidden' must be > 0"),
    ("train", ["--set", "model.omega0=0"], "'omega0' must be > 0"),
    ("train", ["--set", "data.seq_len=0"], "'seq_len' must be > 0"),
    ("train", ["--set", "data.holdout_every=1"], "'holdout_every'"),
    ("train", ["--set", "data.tec_stride=-2"], "'tec_stride' must be > 0"),
    ("train", ["--set", "loss.w_chapman=-1"], "'w_chapman' must be >= 0"),
    ("train", ["--set", "loss.likelihood=gauss"], "one of ['nll', 'mse']"),
    ("train", ["--set", "train.dtype=float16"], "one of ['float32', 'float64']"),
    ("train", ["--set", "iri.dlat_deg=7"], "'dlat_deg' must divide 180"),
    ("train", ["--set", "iri.alt_max_km=50"], "'alt_max_km' must be > alt_min_km"),
    ("train", ["--set", "eval.batch_size=0"], "'batch_size' must be > 0"),
    ("train", ["--set", "train.nope=1"], "unknown config key 'train.nope'"),
    ("train", ["--cpu-optimized", "--preset", "tiny"], "--cpu-optimized"),
    ("simulate", ["--days", "0"], "--days"),
    ("simulate", ["--days", "-1"], "--days"),
    ("simulate", ["--start", "2015-13-45"], "'start' must be an ISO date"),
    ("simulate", ["--start", "2044-01-01"], "outside the shipped Kp/F10.7 record"),
    ("simulate", ["--set", "sim.storm_kp=12"], "'storm_kp' must be >= 0 and <= 9"),
    ("simulate", ["--set", "sim.ro_per_day=-5"], "'ro_per_day' must be >= 0"),
    ("simulate", ["--set", "sim.insitu_cadence_s=0"], "'insitu_cadence_s' must be > 0"),
    ("predict", ["--lat", "100:200:10"], "--lat"),
    ("predict", ["--lat", "-95:0:5"], "valid range [-90, 90]"),
    ("predict", ["--lat", "0:10:0"], "STEP must be non-zero"),
    ("predict", ["--lat", "10:0:5"], "STEP must be non-zero"),
    ("predict", ["--lat", "a:b"], "START:STOP:STEP"),
    ("predict", ["--lat", "nan:10:1"], "finite"),
    ("predict", ["--lon", "0:360:1e-6"], "at most"),
    ("predict", ["--lon", "0:inf:5"], "--lon"),
    ("predict", ["--alt", "-100:0:50"], "--alt"),
    ("predict", ["--time", "yesterday"], "--time"),
    ("predict", ["--out", "OUT.txt"], "--out"),
    ("plot", ["--alt-km", "nan"], "--alt-km"),
    ("plot", ["--alt-km", "-5"], "--alt-km"),
    ("demo", ["--steps", "0"], "--steps"),
    ("evaluate", ["--device", "tpu"], "tpu"),
]


@pytest.mark.parametrize(("command", "extra", "needle"), OPTION_CASES)
def test_bad_option(command, extra, needle, trained, tiny_scenario, iri_cache, tmp_path):
    out = tmp_path / "out"
    extra = [str(out / "p.txt") if e == "OUT.txt" else e for e in extra]
    base = {
        "train": ["--scenario", tiny_scenario, "--run-dir", out, "--device", "cpu"],
        "simulate": ["--out", out, "--preset", "tiny"],
        "predict": ["--run", trained, "--time", TIME, "--out", out / "p.h5"],
        "plot": ["--run", trained, "--scenario", tiny_scenario, "--out", out],
        "demo": ["--out", out],
        "evaluate": ["--run", trained, "--scenario", tiny_scenario, "--out", out / "e.json"],
    }[command]
    if command == "train" and "--cpu-optimized" not in extra:
        base += ["--preset", "tiny"]
    if command in ("train", "simulate"):
        base += ["--set", f"iri.cache_dir={iri_cache}"]
    check_refused(invoke([command, *base, *extra]), needle)
    assert not out.exists()


def test_global_threads_refused():
    check_refused(invoke(["--threads", "-1", "train", "--help"]), "--threads")


# --- real-data modes: forecast / nowcast (IONEX GIMs) and ingest-ro (COSMIC-2 ionPrf) -----


def _ionprf(path: Path, n: int = 40, **attrs: float) -> Path:
    """A small COSMIC-2-like ionPrf netCDF file (valid unless ``attrs`` break it)."""
    import netCDF4

    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("MSL_alt", n)
        alt = np.linspace(100.0, 800.0, n)
        values = {
            "MSL_alt": alt,
            "GEO_lat": np.full(n, 30.0),
            "GEO_lon": np.full(n, 10.0),
            "ELEC_dens": 1e5 * np.exp(-(((alt - 300.0) / 150.0) ** 2)),
        }
        for name, v in values.items():
            ds.createVariable(name, "f8", ("MSL_alt",))[:] = v
        when = {"year": 2015, "month": 3, "day": 16, "hour": 6, "minute": 0, "second": 0.0}
        ds.setncatts(when | attrs)
    return path


def _ionprf_edit(path: Path, edit: Callable) -> Path:
    import netCDF4

    _ionprf(path)
    with netCDF4.Dataset(path, "a") as ds:
        edit(ds)
    return path


def _nan_all(name: str) -> Callable:
    def edit(ds) -> None:
        ds[name][:] = np.full(ds[name].shape, np.nan)

    return edit


GIM_CASES: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    # name: (make a broken GIM at dst from a valid IONEX src, problem text)
    "empty": (lambda src, d: (d.write_bytes(b""), d)[1], "not an IONEX file"),
    "truncated": (
        lambda src, d: (d.write_text(src.read_text()[: src.stat().st_size // 2]), d)[1],
        "truncated",
    ),
    "truncated-gz": (
        lambda src, d: (d.write_bytes(__import__("gzip").compress(src.read_bytes())[:3000]), d)[1],
        "corrupt gzip data",
    ),
    "binary": (lambda src, d: (d.write_bytes(os.urandom(3000)), d)[1], "not an IONEX file"),
    "nan-value": (
        lambda src, d: (shutil.copy(src, d), _tec_token(d, "NaN"), d)[2],
        "non-integer map value",
    ),
    "netcdf-instead": (lambda src, d: _ionprf(d), "not an IONEX file"),
    "negative-value": (
        lambda src, d: (shutil.copy(src, d), _tec_token(d, "-50"), d)[2],
        "negative TEC value -5",
    ),
    "bad-exponent": (
        lambda src, d: (d.write_text(src.read_text().replace("    -1", "    x1", 1)), d)[1],
        "bad EXPONENT record",
    ),
}


@pytest.fixture()
def gim_dir(tiny_scenario, tmp_path):
    """A folder holding a valid IONEX day (the tiny scenario's) as ``good.15i``."""
    folder = tmp_path / "gims"
    (folder / "tec").mkdir(parents=True)
    good = folder / "good.15i"
    shutil.copy(_tec_file(tiny_scenario), good)
    return folder, good


@pytest.mark.parametrize("command", ["forecast", "nowcast"])
@pytest.mark.parametrize("case", sorted(GIM_CASES))
def test_bad_gim(command, case, gim_dir):
    folder, good = gim_dir
    make, problem = GIM_CASES[case]
    suffix = ".15i.gz" if case == "truncated-gz" else ".15i"
    bad = make(good, folder / "tec" / f"bad{suffix}")
    out = folder / "out"
    if command == "forecast":
        args = ["forecast", good, bad, "--out", out / "f.15i", "--steps", "2"]
    else:
        args = ["nowcast", bad, "--out", out, "--steps", "2"]
    check_refused(invoke(args), str(bad), problem)
    assert not out.exists()


IONPRF_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "empty": (lambda p: (p.write_bytes(b""), p)[1], "not a COSMIC-2 ionPrf"),
    "text": (lambda p: (p.write_text("MSL_alt,GEO_lat\n"), p)[1], "not a COSMIC-2 ionPrf"),
    "truncated": (
        lambda p: (p.write_bytes(_ionprf(p).read_bytes()[:600]), p)[1],
        "not a COSMIC-2 ionPrf",
    ),
    "ionex-instead": (
        lambda p: (p.write_text("     1.0   IONOSPHERE MAPS\n"), p)[1],
        "not a COSMIC-2 ionPrf",
    ),
    "nan-densities": (lambda p: _ionprf_edit(p, _nan_all("ELEC_dens")), "no valid electron"),
    "nan-positions": (lambda p: _ionprf_edit(p, _nan_all("GEO_lat")), "no valid electron"),
    "missing-variable": (
        lambda p: _ionprf_edit(p, lambda ds: ds.renameVariable("ELEC_dens", "Ne")),
        "ELEC_dens not found",
    ),
    "bad-month": (lambda p: _ionprf(p, month=13), "bad occultation time"),
    "before-record": (lambda p: _ionprf(p, year=1900), "outside the shipped Kp/F10.7 record"),
}


@pytest.mark.parametrize("case", sorted(IONPRF_CASES))
def test_bad_ionprf(case, tmp_path):
    make, problem = IONPRF_CASES[case]
    bad = make(tmp_path / "ionPrf_bad.nc")
    out = tmp_path / "ro.h5"
    line = check_refused(invoke(["ingest-ro", bad, "--out", out]), problem)
    if case != "before-record":  # the record error names the time, not the file
        assert str(bad) in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["forecast", "A", "B", "--steps", "0"], "--steps"),
        (["forecast", "A", "B", "--seed", "-1"], "--seed"),
        (["nowcast", "A", "--steps", "-2"], "--steps"),
        (["nowcast", "A", "--seed", "-1"], "--seed"),
        (["ingest-ro", "--out", "OUT"], "FILES"),
        (["forecast", "MISSING", "B"], "MISSING"),
        (["nowcast", "MISSING"], "MISSING"),
        (["nowcast"], "needs a GIM file, an observation table (--obs), or both"),
        (["ingest-ro", "MISSING", "--out", "OUT"], "MISSING"),
    ],
)
def test_bad_mode_option(args, needle, gim_dir):
    folder, good = gim_dir
    out = folder / "out"
    names = {"A": str(good), "B": str(good), "OUT": str(out / "ro.h5")}
    names["MISSING"] = str(folder / "MISSING.15i")
    args = [names.get(a, a) for a in args]
    if args[0] != "ingest-ro":
        args += ["--out", str(out / "x")]
    check_refused(invoke(args), needle)
    assert not out.exists()


# --- the library facade raises the same one-line UserErrors ------------------------------


def test_api_facade_errors(trained):
    from common.errors import UserError
    from ionofield import api

    assert all(hasattr(api, name) for name in api.__all__)
    np.testing.assert_allclose(api.parse_axis("-87.5:87.5:2.5", "--lat")[[0, -1]], [-87.5, 87.5])
    assert api.parse_axis("0:1:0.1", "--lat").size == 11  # STOP kept despite rounding
    assert api.parse_axis("10:-10:-5", "--lat").tolist() == [10, 5, 0, -5, -10]
    for text in ("0:90.5:0.5", "1:1:0", "5:0:1", "0:1", "x:1:1", "0:nan:1"):
        with pytest.raises(UserError, match="--lat"):
            api.parse_axis(text, "--lat")
    with pytest.raises(UserError, match="--time"):
        api.parse_times(["2015-03-16T25:00"])
    model, cfg = api.load_model(trained)
    grid = (np.array([95.0]), np.array([0.0]), np.array([300.0]))
    with pytest.raises(UserError, match=r"--lat: grid axis"):
        api.predict(model, cfg, np.array([api.parse_times([TIME])[0]]), grid)
    with pytest.raises(UserError, match="data.scenario"):
        api.fit(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, scenario="")), "x")
    assert not Path("x").exists()


@pytest.mark.parametrize("with_gim", [True, False], ids=["gim+obs", "obs-only"])
@pytest.mark.parametrize("case", sorted(k for k in SCENARIO_CASES if k.startswith("obs-")))
def test_bad_nowcast_obs(case, with_gim, tiny_scenario, tmp_path):
    """``nowcast [GIM] --obs TABLE``: the table is checked before any fitting or output."""
    from ionofield.ionex import read_ionex, write_ionex

    maps = read_ionex(_tec_file(tiny_scenario))
    gim = tmp_path / "gim.15i"
    write_ionex(gim, dataclasses.replace(maps, rms_tecu=np.ones_like(maps.tec_tecu)))
    folder = tmp_path / "scenario"
    shutil.copytree(tiny_scenario, folder)
    breaker, _, problem = SCENARIO_CASES[case]
    breaker(folder)
    obs = folder / "observations.h5"
    out = tmp_path / "out"
    args = ["nowcast", *([gim] if with_gim else []), "--obs", obs, "--out", out, "--steps", "2"]
    if case == "obs-missing":
        check_refused(invoke(args), "--obs")
    else:
        check_refused(invoke(args), str(obs), problem)
    assert not out.exists()
