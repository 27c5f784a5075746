"""Hostile and broken input (issue 23): every nrfix subcommand that takes a file or a number.

Each case asserts: non-zero exit, exactly one ``Error:`` line that names the file/option/key
and the problem, no traceback (no exception escaped Click), no payload ran (marker file),
and nothing written (the set of files under the test's directories is unchanged).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from nrfix.cli import cli
from nrfix.formats import read_hdf5, write_chombo, write_hdf5

MARKER = "PAYLOAD_RAN"


class _Payload:
    """Unpickling this runs a shell command that creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _files(*roots: Path) -> set[str]:
    return {str(p) for r in roots if r.exists() for p in r.rglob("*")}


def _refused(args: list[str], *needles: str, watch: tuple[Path, ...] = ()) -> str:
    """Run ``nrfix args``; assert a clean one-line refusal mentioning every needle."""
    before = _files(*watch)
    result = CliRunner().invoke(cli, [str(a) for a in args])
    out = result.output
    assert result.exit_code != 0, out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in out
    errors = [ln for ln in out.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, out
    for needle in needles:
        assert re.search(needle, errors[0]), f"{needle!r} not in {errors[0]!r}"
    assert _files(*watch) == before, "output left behind"
    for root in watch:
        assert not list(root.rglob(MARKER)), "payload ran"
    return errors[0]


# --------------------------------------------------------------------------- bad grid files
def _h5(path: Path, vars_: np.ndarray, dx: float | None, names: str | None = None) -> Path:
    with h5py.File(path, "w") as f:
        f["vars"] = vars_
        if dx is not None:
            f.attrs["dx"] = dx
        if names is not None:
            f.attrs["variables"] = names
    return path


def _plotfile(path: Path, vars_: np.ndarray, dx: float, *, header: str | None = None) -> Path:
    """A one-box AMReX plotfile of ``vars_`` (25, X, Y, Z) as ``nrfix.formats`` reads it."""
    from nrfix.constraints import VAR_NAMES

    n = vars_.shape[1:]
    (path / "Level_0").mkdir(parents=True)
    hi = ",".join(str(k - 1) for k in n)
    lines = ["HyperCLaw-V1.1", "25", *VAR_NAMES, "3", "0.0", "0", "0 0 0", "1 1 1", ""]
    lines += [f"((0,0,0) ({hi}) (0,0,0))", "0", f"{dx} {dx} {dx}", "0", "0"]
    (path / "Header").write_text(header if header is not None else "\n".join(lines) + "\n")
    (path / "Level_0" / "Cell_H").write_text("FabOnDisk: Cell_D_00000 0\n")
    head = (
        f"FAB ((8, (64 11 52 0 1 12 0 1023)),(8, (8 7 6 5 4 3 2 1)))((0,0,0) ({hi}) (0,0,0)) 25\n"
    )
    data = np.ascontiguousarray(vars_.transpose(0, 3, 2, 1)).astype("<f8").tobytes()
    (path / "Level_0" / "Cell_D_00000").write_bytes(head.encode() + data)
    return path


def _chombo(path: Path, good: Path, edit) -> Path:
    write_chombo(path, read_hdf5(good))
    with h5py.File(path, "r+") as f:
        edit(f["level_0"])
    return path


def _replace(group, name: str, data: np.ndarray) -> None:
    del group[name]
    group[name] = data


def _huge_domain(lev) -> None:
    """The domain and its one box claim 10^6 cells per axis; the data hold 16^3."""
    dom, boxes = lev.attrs["prob_domain"].copy(), lev["boxes"][()]
    for k in ("hi_i", "hi_j", "hi_k"):
        dom[k] = boxes[k] = 10**6
    lev.attrs["prob_domain"] = dom
    _replace(lev, "boxes", boxes)


def _make_bad(kind: str, tmp: Path, good: Path) -> Path:  # noqa: C901, PLR0911 - a case table
    g = read_hdf5(good)
    v = g.vars.copy()
    p = tmp / f"{kind}.h5"
    if kind == "missing":
        return p
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        p.write_bytes(good.read_bytes()[:3000])
    elif kind == "text":
        p.write_text("chi,h11\n1,2\n")
    elif kind == "json":
        p.write_text(json.dumps({"vars": [1, 2, 3]}))
    elif kind == "nan":
        v[0, 3, 3, 3] = np.nan
        _h5(p, v, g.dx)
    elif kind == "inf":
        v[8, 4, 4, 4] = np.inf
        _h5(p, v, g.dx)
    elif kind == "small_grid":
        _h5(p, v[:, :3], g.dx)
    elif kind == "flat_vars":
        _h5(p, v.reshape(-1)[:100], g.dx)
    elif kind == "24_vars":
        names = json.dumps(json.loads(h5py.File(good).attrs["variables"])[:24])
        _h5(p, v[:24], g.dx, names)
    elif kind == "dx_zero":
        _h5(p, v, 0.0)
    elif kind == "dx_nan":
        _h5(p, v, float("nan"))
    elif kind == "no_dx":
        _h5(p, v, None)
    elif kind == "bad_names":
        _h5(p, v, g.dx, "not json")
    elif kind == "no_vars":
        with h5py.File(p, "w") as f:
            f["other"] = np.zeros(3)
    elif kind == "chombo_nan":
        _chombo(p, good, lambda lev: lev["data:datatype=0"].__setitem__(5, np.nan))
    elif kind == "chombo_truncated":
        _chombo(p, good, lambda lev: _replace(lev, "data:datatype=0", np.zeros(100)))
    elif kind == "chombo_huge":
        _chombo(p, good, _huge_domain)
    elif kind == "plot_no_header":
        p = tmp / "plt_empty"
        p.mkdir()
    elif kind == "plot_bad_header":
        p = _plotfile(tmp / "plt_bad", v, g.dx, header="not a header\n")
    elif kind == "plot_nan":
        v[3, 1, 1, 1] = np.nan
        p = _plotfile(tmp / "plt_nan", v, g.dx)
    elif kind == "plot_truncated":
        p = _plotfile(tmp / "plt_trunc", v, g.dx)
        fab = p / "Level_0" / "Cell_D_00000"
        fab.write_bytes(fab.read_bytes()[:5000])
    else:  # pragma: no cover
        raise AssertionError(kind)
    return p


GRID_CASES = {
    "missing": "no such file",
    "empty": "not an HDF5",
    "truncated": "not an HDF5|cannot read",
    "text": "not an HDF5",
    "json": "not an HDF5",
    "nan": "non-finite.*chi",
    "inf": "non-finite.*A11",
    "small_grid": "too small",
    "flat_vars": "shape",
    "24_vars": "missing variable.*B3",
    "dx_zero": "dx",
    "dx_nan": "dx",
    "no_dx": "dx",
    "bad_names": "cannot read|variables",
    "no_vars": "neither 'vars'",
    "chombo_nan": "non-finite",
    "chombo_truncated": "cannot|reshape|size",
    "chombo_huge": "cannot|too big|memory|large",
    "plot_no_header": "Header",
    "plot_bad_header": "plotfile",
    "plot_nan": "non-finite.*h13",
    "plot_truncated": "plotfile|reshape|size",
}


def test_plotfile_helper_writes_a_readable_plotfile(trained, tmp_path):
    """The corpus' plotfile writer makes files the reader accepts (so its bad ones test it)."""
    from nrfix.formats import read_any

    good = read_hdf5(trained / "data/test_000.h5")
    back = read_any(_plotfile(tmp_path / "plt", good.vars, good.dx))
    np.testing.assert_array_equal(back.vars, good.vars)


def _grid_commands(bad: Path, trained: Path, out: Path) -> dict[str, list]:
    good = trained / "data/test_000.h5"
    ckpt = trained / "run/checkpoints/best.pt"
    return {
        "evaluate": ["evaluate", bad],
        "correct": ["correct", bad, out / "fixed.h5", "--checkpoint", ckpt],
        "correct-newton": ["correct", bad, out / "fixed.h5", "--method", "newton"],
        "solve": ["solve", bad, out / "solved.h5"],
        "plot-hist-before": ["plot-hist", bad, good, "--out", out / "figs"],
        "plot-hist-after": ["plot-hist", good, bad, "--out", out / "figs"],
    }


CORE_KINDS = ["missing", "empty", "truncated", "text", "nan", "inf", "small_grid"]
CORE_KINDS += ["24_vars", "chombo_truncated", "plot_truncated"]


@pytest.mark.parametrize(
    "kind,command",
    [(k, "evaluate") for k in sorted(GRID_CASES)]  # every reader case through read_grid
    + [(k, c) for c in ("correct", "solve", "plot-hist-before") for k in CORE_KINDS],
)
def test_bad_grid_file(kind, command, trained, tmp_path):
    bad = _make_bad(kind, tmp_path, trained / "data/test_000.h5")
    args = _grid_commands(bad, trained, tmp_path / "out")[command]
    _refused(args, re.escape(bad.name), GRID_CASES[kind], watch=(tmp_path, trained))


@pytest.mark.parametrize("command", ["plot-hist-after", "correct-newton"])
@pytest.mark.parametrize("kind", ["empty", "nan", "chombo_huge"])
def test_bad_file_other_commands(kind, command, trained, tmp_path):
    bad = _make_bad(kind, tmp_path, trained / "data/test_000.h5")
    args = _grid_commands(bad, trained, tmp_path / "out")[command]
    _refused(args, re.escape(bad.name), GRID_CASES[kind], watch=(tmp_path, trained))


def test_plot_hist_refuses_different_grids(trained, tmp_path):
    g = read_hdf5(trained / "data/test_000.h5")
    g.vars = g.vars[:, :10, :10, :10].copy()
    other = write_hdf5(tmp_path / "cut.h5", g)
    args = ["plot-hist", trained / "data/test_000.h5", other, "--out", tmp_path / "figs"]
    _refused(args, "cut.h5", "differs", watch=(tmp_path,))


# --------------------------------------------------------------------------- bad checkpoints
def _make_ckpt(kind: str, tmp: Path, good: Path) -> Path:
    p = tmp / f"{kind}.pt"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "truncated":
        p.write_bytes(good.read_bytes()[:4000])
    elif kind == "text":
        p.write_text("not a checkpoint\n")
    elif kind == "hdf5":
        shutil.copy(good.parents[2] / "data/test_000.h5", p)
    elif kind == "foreign_dict":
        torch.save({"weights": torch.zeros(3)}, p)
    elif kind == "pickle_payload":
        p.write_bytes(pickle.dumps(_Payload(tmp / MARKER)))
    elif kind == "zip_payload":
        torch.save({"schema": _Payload(tmp / MARKER)}, p)
    elif kind == "wrong_weights":
        ckpt = torch.load(good, weights_only=True)
        ckpt["config"]["model"]["channels"] = 8
        torch.save(ckpt, p)
    elif kind == "bad_config":
        ckpt = torch.load(good, weights_only=True)
        ckpt["config"]["model"]["channels"] = 0
        torch.save(ckpt, p)
    return p


CKPT_CASES = {
    "missing": "not found|does not exist",
    "empty": "not a physics-ml checkpoint",
    "truncated": "not a physics-ml checkpoint",
    "text": "not a physics-ml checkpoint",
    "hdf5": "not a physics-ml checkpoint",
    "foreign_dict": "not a physics-ml checkpoint",
    "pickle_payload": "not a physics-ml checkpoint",
    "zip_payload": "refused.*Python objects",
    "wrong_weights": "do not fit.*size mismatch",
    "bad_config": "channels",
}


@pytest.mark.parametrize("kind", sorted(CKPT_CASES))
def test_bad_checkpoint(kind, trained, tmp_path):
    ckpt = _make_ckpt(kind, tmp_path, trained / "run/checkpoints/best.pt")
    args = ["correct", trained / "data/test_000.h5", tmp_path / "out.h5", "--checkpoint", ckpt]
    err = _refused(args, re.escape(ckpt.name), CKPT_CASES[kind], watch=(tmp_path, trained))
    assert "weights_only" not in err


@pytest.mark.parametrize("kind", ["empty", "truncated", "pickle_payload", "zip_payload"])
def test_resume_from_bad_last_checkpoint(kind, trained, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.move(
        _make_ckpt(kind, tmp_path, trained / "run/checkpoints/last.pt"), run / "checkpoints"
    )
    (run / "checkpoints" / f"{kind}.pt").rename(run / "checkpoints/last.pt")
    args = ["train", "--preset", "tiny", "--run-dir", run, "--resume"]
    _refused(args, "last.pt", CKPT_CASES[kind], watch=(tmp_path,))


# --------------------------------------------------------------------------- train / make-data
CONFIG_CASES = [
    (["--set", "model.channels=0"], "'channels' must be >= 1"),
    (["--set", "data.grid=0"], "'grid' must be"),
    (["--set", "data.grid=-4"], "'grid' must be"),
    (["--set", "data.n_train=-2"], "'n_train' must be"),
    (["--set", "data.crop=40"], "'crop' must be <= 16"),
    (["--set", "data.box=0"], "'box' must be"),
    (["--set", "data.mass_max=0.1"], "'mass_max' must be"),
    (["--set", "train.steps=0"], "'steps' must be"),
    (["--set", "train.steps=-3"], "'steps' must be"),
    (["--set", "train.batch_size=0"], "'batch_size' must be"),
    (["--set", "train.lr=nan"], "train.lr.*NaN"),
    (["--set", "train.lr=-1e-3"], "'lr' must be"),
    (["--set", "train.ckpt_every=0"], "'ckpt_every' must be"),
    (["--set", "model.mask_percentage=0.9"], "'mask_percentage' must be"),
    (["--set", "model.compute_dtype=float16"], "compute_dtype.*float64"),
    (["--set", "loss.mode=fast"], "loss.mode"),
    (["--set", "data.family=kerr"], "data.family"),
    (["--set", "model.correct_vars=[psi]"], "unknown variable.*psi"),
    (["--set", "train.select_by=psnr"], "select_by"),
    (["--set", "model.nope=1"], "unknown config key 'model.nope'"),
    (["--seed", "-1"], "--seed.*>=0|'seed' must be >= 0"),
    (["--preset", "huge"], "unknown preset 'huge'"),
]


@pytest.mark.parametrize("extra,needle", CONFIG_CASES, ids=lambda v: str(v))
def test_train_refuses_bad_config_before_creating_the_run_dir(extra, needle, tmp_path):
    args = ["train", "--run-dir", tmp_path / "run", *extra]
    if "--preset" not in extra:
        args += ["--preset", "tiny"]
    _refused(args, needle, watch=(tmp_path,))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra,needle", CONFIG_CASES[:6], ids=lambda v: str(v))
def test_make_data_refuses_bad_config(extra, needle, tmp_path):
    _refused(["make-data", "--out", tmp_path / "d", "--preset", "tiny", *extra], needle)
    assert not (tmp_path / "d").exists()


def _yaml(tmp: Path, kind: str) -> Path:
    p = tmp / f"{kind}.yaml"
    text = {
        "payload": f"model: !!python/object/apply:os.system ['touch {tmp / MARKER}']\n",
        "not_mapping": "- 1\n- 2\n",
        "broken": "model: {channels: [\n",
        "zero_size": "model:\n  channels: 0\n",
        "wrong_type": "train:\n  steps: many\n",
    }[kind]
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("payload", "not valid YAML"),
        ("not_mapping", "mapping"),
        ("broken", "not valid YAML"),
        ("zero_size", "'channels' must be"),
        ("wrong_type", "train.steps.*integer"),
    ],
)
def test_train_refuses_bad_config_file(kind, needle, tmp_path):
    cfg = _yaml(tmp_path, kind)
    args = ["train", "--preset", "tiny", "--config", cfg, "--run-dir", tmp_path / "run"]
    _refused(args, needle, watch=(tmp_path,))


def _data_dir(kind: str, tmp: Path, trained: Path) -> Path:
    d = tmp / "data"
    if kind == "missing":
        return d
    d.mkdir()
    if kind == "empty_dir":
        return d
    for f in (trained / "data").glob("*.h5"):
        shutil.copy(f, d / f.name)
    if kind == "truncated_file":
        (d / "train_001.h5").write_bytes((d / "train_001.h5").read_bytes()[:2000])
    elif kind == "nan_file":
        g = read_hdf5(d / "train_000.h5")
        g.vars[0, 2, 2, 2] = np.nan
        _h5(d / "train_000.h5", g.vars, g.dx)
    elif kind == "mixed_shapes":
        g = read_hdf5(d / "train_000.h5")
        _h5(d / "train_001.h5", g.vars[:, :12, :12, :12].copy(), g.dx)
    elif kind == "grid_below_crop":
        for f in d.glob("*.h5"):
            g = read_hdf5(f)
            _h5(f, g.vars[:, :8, :8, :8].copy(), g.dx)
    return d


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("missing", "does not exist"),
        ("empty_dir", "no train_\\*.h5"),
        ("truncated_file", "train_001.h5.*(HDF5|cannot read)"),
        ("nan_file", "train_000.h5.*non-finite"),
        ("mixed_shapes", "share shape"),
        ("grid_below_crop", "crop=12 larger than the grid"),
    ],
)
def test_train_refuses_bad_data_dir(kind, needle, trained, tmp_path):
    data = _data_dir(kind, tmp_path, trained)
    args = ["train", "--preset", "tiny", "--data", data, "--run-dir", tmp_path / "run"]
    _refused(args, needle, watch=(tmp_path,))
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- options
OPTION_CASES = [
    (["evaluate", "{good}", "--chi-excision", "-0.1"], "--chi-excision"),
    (["evaluate", "{good}", "--chi-excision", "1.5"], "--chi-excision"),
    (["evaluate", "{good}", "--chi-excision", "nan"], "--chi-excision.*finite"),
    (["solve", "{good}", "{out}", "--tol", "0"], "--tol"),
    (["solve", "{good}", "{out}", "--tol", "-1"], "--tol"),
    (["solve", "{good}", "{out}", "--tol", "nan"], "--tol.*finite"),
    (["correct", "{good}", "{out}", "--checkpoint", "{ckpt}", "--patch", "0"], "--patch"),
    (["correct", "{good}", "{out}", "--checkpoint", "{ckpt}", "--halo", "-1"], "--halo"),
    (["correct", "{good}", "{out}", "--iterations", "0"], "--iterations"),
    (["correct", "{good}", "{out}", "--method", "bogus"], "--method"),
    (["correct", "{good}", "{out}", "--method", "learned"], "--checkpoint"),
    (["correct", "{good}", "{out}", "--chi-excision", "nan"], "--chi-excision.*finite"),
    (["plot-hist", "{good}", "--out", "{out}", "--chi-excision", "inf"], "--chi-excision"),
    (["demo", "--out", "{out}", "--steps", "0"], "--steps"),
    (["demo", "--out", "{out}", "--steps", "-3"], "--steps"),
    (["--threads", "-1", "evaluate", "{good}"], "--threads"),
    (["train", "--preset", "tiny", "--run-dir", "{out}", "--device", "gpu"], "device 'gpu'"),
]


@pytest.mark.parametrize("args,needle", OPTION_CASES, ids=lambda v: " ".join(v)[:60])
def test_out_of_range_options(args, needle, trained, tmp_path):
    fill = {
        "good": trained / "data/test_000.h5",
        "out": tmp_path / "out",
        "ckpt": trained / "run/checkpoints/best.pt",
    }
    _refused([a.format(**fill) for a in args], needle, watch=(tmp_path,))


def test_chi_excision_that_removes_every_cell(trained, tmp_path):
    _refused(
        ["evaluate", trained / "data/test_000.h5", "--chi-excision", "0.9999"],
        "test_000.h5",
        "removes every interior cell",
    )


# --------------------------------------------------------------------------- resume contract
def _copy_run(trained: Path, tmp: Path) -> Path:
    run = tmp / "run"
    shutil.copytree(trained / "run", run)
    return run


def test_resume_refuses_a_changed_model_config(trained, tmp_path):
    run = _copy_run(trained, tmp_path)
    args = ["train", "--preset", "tiny", "--data", trained / "data", "--run-dir", run, "--resume"]
    err = _refused([*args, "--set", "model.channels=8"], "model.channels", "allow-config-change")
    assert "data." not in err
    _refused([*args, "--set", "data.n_train=3"], "data.n_train", watch=(tmp_path,))


def test_resume_with_allow_config_change(trained, tmp_path):
    run = _copy_run(trained, tmp_path)
    args = ["train", "--preset", "tiny", "--data", trained / "data", "--run-dir", run, "--resume"]
    args += ["--set", "model.scaling_factor=0.02", "--set", "train.steps=6"]
    _refused(args, "model.scaling_factor")
    result = CliRunner().invoke(cli, [str(a) for a in [*args, "--allow-config-change"]])
    assert result.exit_code == 0, result.output
    assert torch.load(run / "checkpoints/last.pt", weights_only=True)["step"] == 6


def test_train_into_an_existing_run_needs_resume_or_overwrite(trained, tmp_path):
    run = _copy_run(trained, tmp_path)
    last = run / "checkpoints/last.pt"
    stamp = last.read_bytes()
    args = ["train", "--preset", "tiny", "--data", trained / "data", "--run-dir", run]
    _refused(args, "last.pt exists", "--resume", "--overwrite", watch=(tmp_path,))
    assert last.read_bytes() == stamp  # nothing restarted over it
    result = CliRunner().invoke(cli, [str(a) for a in [*args, "--overwrite"]])
    assert result.exit_code == 0, result.output
    assert torch.load(last, weights_only=True)["step"] == 4


def test_stale_temporary_files_are_cleaned_at_start(trained, tmp_path):
    run = _copy_run(trained, tmp_path)
    stale = [run / "checkpoints/.last.pt.abc123.tmp.pt", run / ".config.yaml.x1.tmp.yaml"]
    for p in stale:
        p.write_bytes(b"half a file")
    args = ["train", "--preset", "tiny", "--data", trained / "data", "--run-dir", run, "--resume"]
    result = CliRunner().invoke(cli, [str(a) for a in [*args, "--set", "train.steps=5"]])
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in stale)


# --------------------------------------------------------------------------- bad outputs
@pytest.mark.parametrize(
    "args,needle",
    [
        (["solve", "{good}", "{dir}"], "OUT.*is a directory"),
        (["correct", "{good}", "{dir}", "--checkpoint", "{ckpt}"], "OUT.*is a directory"),
        (["solve", "{good}", "{file}/x.h5"], "blocker.*cannot write"),
        (["plot-hist", "{good}", "--out", "{file}/figs"], "blocker.*cannot write"),
        (["make-data", "--preset", "tiny", "--out", "{file}/d"], "blocker.*cannot write"),
    ],
    ids=["solve-dir", "correct-dir", "solve-under-file", "plot-under-file", "data-under-file"],
)
def test_unwritable_outputs(args, needle, trained, tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "blocker").write_text("a file where a directory is needed")
    fill = {
        "good": trained / "data/test_000.h5",
        "dir": tmp_path / "dir",
        "file": tmp_path / "blocker",
        "ckpt": trained / "run/checkpoints/best.pt",
    }
    _refused([a.format(**fill) for a in args], needle, watch=(tmp_path,))


# --------------------------------------------------------------------------- refinement levels
def test_level_option_on_every_reading_command(trained, tmp_path):
    """A two-level Chombo file: refused without --level (the error names it), read with it."""
    g = read_hdf5(trained / "data/test_000.h5")
    two = write_chombo(tmp_path / "two.hdf5", g)
    with h5py.File(two, "a") as f:
        f.copy("level_0", "level_1")
        f["level_1"].attrs["dx"] = g.dx / 2
        f.attrs["num_levels"] = 2
    figs = tmp_path / "figs"
    for args in (
        ["evaluate", two],
        ["plot-hist", two, "--out", figs],
        ["solve", two, tmp_path / "s.h5"],
    ):
        _refused(args, "two.hdf5", "pick one with --level", watch=(tmp_path,))
    good = CliRunner().invoke(cli, [str(a) for a in ["evaluate", two, "--level", "1", "--json"]])
    assert good.exit_code == 0, good.output
    assert json.loads(good.output)[str(two)]["cells"] > 0
    made = CliRunner().invoke(
        cli, [str(a) for a in ["plot-hist", two, "--level", "0", "--out", figs]]
    )
    assert made.exit_code == 0 and (figs / "hist.png").is_file(), made.output
