"""Hostile and broken input (issue 23): every fcpredict subcommand that takes a file, and
every reader, refuses missing, empty, truncated, wrong-format, NaN/Inf, wrong-shape and
malicious files and out-of-range options with a non-zero exit and one error line naming the
file or option, no traceback, no executed payload and nothing written.

Everything is built from a tiny `make-data` folder (4-atom EMT supercells), so the corpus
needs no shared data and runs in seconds.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from common.errors import UserError
from fcpredict.cli import cli

MARKER_NAME = "PAYLOAD_RAN"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """data/ (2 make-data folders), POSCAR, FORCE_CONSTANTS and a tiny checkpoint."""
    import torch
    from phonopy.file_IO import write_FORCE_CONSTANTS
    from phonopy.interface.vasp import write_vasp

    from common.checkpoint import save_checkpoint
    from common.config import to_dict
    from fcpredict import api
    from fcpredict.model import build_model
    from fcpredict.phonopy_io import load_phonopy

    root = tmp_path_factory.mktemp("bad")
    res = CliRunner().invoke(cli, ["make-data", str(root / "data"), "--n", "2", "--dim", "1"])
    assert res.exit_code == 0, res.output
    ph = load_phonopy(root / "data/s0000")
    write_vasp(str(root / "POSCAR"), ph.unitcell)
    write_FORCE_CONSTANTS(ph.force_constants, str(root / "FORCE_CONSTANTS"), ph.primitive.p2s_map)
    cfg = api.load_config("tiny")
    torch.manual_seed(0)
    save_checkpoint(root / "best.pt", step=0, config=to_dict(cfg), model=build_model(cfg.model))
    return {
        "root": root,
        "data": root / "data",
        "ref": root / "data/s0000",
        "poscar": root / "POSCAR",
        "fc": root / "FORCE_CONSTANTS",
        "ckpt": root / "best.pt",
    }


# --- corruptions: each takes (source file, destination) and writes a bad copy --------------


def _empty(src: Path, dst: Path) -> None:
    dst.write_bytes(b"")


def _truncated(src: Path, dst: Path) -> None:
    raw = src.read_bytes()
    dst.write_bytes(raw[: len(raw) // 3])


def _garbage(src: Path, dst: Path) -> None:
    dst.write_bytes(b"\x89PNG\r\n\x1a\n this is not the expected format \x00\xff\n")


def _text_garbage(src: Path, dst: Path) -> None:
    dst.write_text("- just\n- a list\n")


def _nan_number(src: Path, dst: Path) -> None:
    """Replace the first non-zero-looking decimal number after the header lines by nan."""
    lines = src.read_text().splitlines()
    for i, line in enumerate(lines[2:], start=2):
        parts = line.split()
        for j, tok in enumerate(parts):
            if "." in tok and tok.replace(".", "").replace("-", "").isdigit():
                parts[j] = "nan"
                lines[i] = "  " + "  ".join(parts)
                dst.write_text("\n".join(lines) + "\n")
                return
    raise AssertionError(f"no number to replace in {src}")


def _inf_lattice_poscar(src: Path, dst: Path) -> None:
    lines = src.read_text().splitlines()
    lines[2] = "  inf 0 0"
    dst.write_text("\n".join(lines) + "\n")


def _nan_scale_poscar(src: Path, dst: Path) -> None:
    lines = src.read_text().splitlines()
    lines[1] = "  nan"
    dst.write_text("\n".join(lines) + "\n")


def _zero_volume_poscar(src: Path, dst: Path) -> None:
    lines = src.read_text().splitlines()
    lines[4] = lines[3]
    dst.write_text("\n".join(lines) + "\n")


def _poscar_missing_atoms(src: Path, dst: Path) -> None:
    dst.write_text("\n".join(src.read_text().splitlines()[:-2]) + "\n")


def _malicious_yaml(marker: Path) -> Callable[[Path, Path], None]:
    def write(src: Path, dst: Path) -> None:
        payload = f'!!python/object/apply:os.system ["touch {marker}"]'
        dst.write_text(src.read_text() + f"\nevil: {payload}\n")

    return write


def _nan_yaml_lattice(src: Path, dst: Path) -> None:
    text = src.read_text()
    i = text.index("lattice:")
    j = text.index("[", i)
    k = text.index(",", j)
    dst.write_text(text[: j + 1] + " .nan" + text[k:])


def _flat_yaml_lattice(src: Path, dst: Path) -> None:
    text = src.read_text()
    i = text.index("lattice:")
    j = text.index("- [", i)
    k = text.index("\n", text.index("- [", j + 3))  # drop the second lattice row
    dst.write_text(text[:j] + text[text.index("- [", j + 3) : k] + "\n" + text[k + 1 :])


def _nan_hdf5(src: Path, dst: Path) -> None:
    import h5py

    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        data = f["force_constants"][()]
        data[0, 0, 0, 0] = np.nan
        f["force_constants"][...] = data


def _wrong_shape_hdf5(src: Path, dst: Path) -> None:
    import h5py

    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        g["force_constants"] = f["force_constants"][()][:, :-1]
        g["p2s_map"] = f["p2s_map"][()]


def _wrong_size_force_constants(src: Path, dst: Path) -> None:
    lines = src.read_text().splitlines()
    a, b = (int(v) for v in lines[0].split())
    lines[0] = f"{a} {b + 1}"
    dst.write_text("\n".join(lines) + "\n")


def _wrong_natom_force_sets(src: Path, dst: Path) -> None:
    lines = src.read_text().splitlines()
    lines[0] = str(int(lines[0]) + 3)
    dst.write_text("\n".join(lines) + "\n")


def _nan_energy(src: Path, dst: Path) -> None:
    dst.write_text('{"equilibrium_eV": NaN, "displaced_eV": [1.0]}')


# --- helpers ---------------------------------------------------------------------------


def _bad_folder(base: dict[str, Path], tmp: Path, name: str, corrupt: Callable) -> Path:
    """A copy of the reference folder with ``name`` replaced by a corrupted copy."""
    folder = tmp / "bad_ref"
    shutil.copytree(base["ref"], folder)
    src = base["ref"] / name if (base["ref"] / name).exists() else base["fc"]
    if name == "FORCE_CONSTANTS":  # read only when no force_constants.hdf5 is beside it
        (folder / "force_constants.hdf5").unlink()
    corrupt(src, folder / name)
    return folder


def _assert_refused(res: object, *tokens: str) -> None:
    """Non-zero exit, one 'Error:' line naming a token, no traceback, no stray exception."""
    out = res.output  # type: ignore[attr-defined]
    assert res.exit_code != 0, out  # type: ignore[attr-defined]
    exc = res.exception  # type: ignore[attr-defined]
    assert exc is None or isinstance(exc, SystemExit), repr(exc)
    assert "Traceback" not in out
    errors = [ln for ln in out.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, out
    assert any(t in errors[0] for t in tokens), (errors[0], tokens)


# --- file corruptions through every file-taking subcommand --------------------------------

FOLDER_CASES = [
    ("phonopy_disp.yaml", _empty, "empty"),
    ("phonopy_disp.yaml", _truncated, "phonopy_disp.yaml"),
    ("phonopy_disp.yaml", _garbage, "phonopy_disp.yaml"),
    ("phonopy_disp.yaml", _text_garbage, "phonopy_disp.yaml"),
    ("phonopy_disp.yaml", _nan_yaml_lattice, "NaN or Inf"),
    ("phonopy_disp.yaml", _flat_yaml_lattice, "lattice"),
    ("FORCE_SETS", _empty, "FORCE_SETS"),
    ("FORCE_SETS", _truncated, "FORCE_SETS"),
    ("FORCE_SETS", _garbage, "FORCE_SETS"),
    ("FORCE_SETS", _nan_number, "FORCE_SETS"),
    ("FORCE_SETS", _wrong_natom_force_sets, "FORCE_SETS"),
    ("force_constants.hdf5", _empty, "force_constants.hdf5"),
    ("force_constants.hdf5", _truncated, "force_constants.hdf5"),
    ("force_constants.hdf5", _garbage, "force_constants.hdf5"),
    ("force_constants.hdf5", _nan_hdf5, "force_constants.hdf5"),
    ("force_constants.hdf5", _wrong_shape_hdf5, "force_constants.hdf5"),
    ("FORCE_CONSTANTS", _empty, "FORCE_CONSTANTS"),
    ("FORCE_CONSTANTS", _truncated, "FORCE_CONSTANTS"),
    ("FORCE_CONSTANTS", _garbage, "FORCE_CONSTANTS"),
    ("FORCE_CONSTANTS", _nan_number, "FORCE_CONSTANTS"),
    ("FORCE_CONSTANTS", _wrong_size_force_constants, "FORCE_CONSTANTS"),
]
FOLDER_IDS = [f"{n}-{f.__name__.strip('_')}" for n, f, _ in FOLDER_CASES]


@pytest.mark.parametrize(("name", "corrupt", "token"), FOLDER_CASES, ids=FOLDER_IDS)
def test_evaluate_and_plot_refuse_bad_reference(
    base: dict[str, Path], tmp_path: Path, name: str, corrupt: Callable, token: str
) -> None:
    folder = _bad_folder(base, tmp_path, name, corrupt)
    js, png = tmp_path / "m.json", tmp_path / "b.png"
    res = CliRunner().invoke(cli, ["evaluate", str(base["ref"]), str(folder), "--json", str(js)])
    _assert_refused(res, token, name)
    res = CliRunner().invoke(cli, ["plot", str(folder), str(base["ref"]), "-o", str(png)])
    _assert_refused(res, token, name)
    assert not js.exists() and not png.exists()


TRAIN_CASES = [c for c in FOLDER_CASES if c[0] != "FORCE_CONSTANTS"] + [
    ("energies.json", _nan_energy, "energies.json"),
    ("energies.json", _garbage, "energies.json"),
]


@pytest.mark.parametrize(
    ("name", "corrupt", "token"),
    TRAIN_CASES,
    ids=[f"{n}-{f.__name__.strip('_')}" for n, f, _ in TRAIN_CASES],
)
def test_train_refuses_bad_data_before_the_run_dir_exists(
    base: dict[str, Path], tmp_path: Path, name: str, corrupt: Callable, token: str
) -> None:
    folder = _bad_folder(base, tmp_path, name, corrupt)
    run = tmp_path / "run"
    args = ["train", "--preset", "tiny", "--data", str(folder), "--run-dir", str(run)]
    res = CliRunner().invoke(cli, [*args, "--device", "cpu", "--set", "data.val_fraction=0"])
    _assert_refused(res, token, name)
    assert not run.exists()


POSCAR_CASES = [
    (_empty, "POSCAR"),
    (_truncated, "POSCAR"),
    (_garbage, "POSCAR"),
    (_nan_number, "NaN or Inf"),
    (_inf_lattice_poscar, "NaN or Inf"),
    (_nan_scale_poscar, "POSCAR"),
    (_zero_volume_poscar, "zero-volume"),
    (_poscar_missing_atoms, "POSCAR"),
]


@pytest.mark.parametrize(
    ("corrupt", "token"), POSCAR_CASES, ids=[f.__name__.strip("_") for f, _ in POSCAR_CASES]
)
def test_predict_refuses_bad_poscar(
    base: dict[str, Path], tmp_path: Path, corrupt: Callable, token: str
) -> None:
    """A NaN coordinate or lattice scale used to segfault inside spglib (exit 139)."""
    bad = tmp_path / "POSCAR"
    corrupt(base["poscar"], bad)
    out = tmp_path / "out" / "FORCE_CONSTANTS"
    res = CliRunner().invoke(
        cli,
        ["predict", str(bad), "-o", str(out), "--checkpoint", str(base["ckpt"]), "--dim", "1 1 1"],
    )
    _assert_refused(res, token)
    assert not out.parent.exists()


FINETUNE_CASES = [
    ("FORCE_SETS", _truncated, "FORCE_SETS"),
    ("force_constants.hdf5", _nan_hdf5, "force_constants.hdf5"),
    ("phonopy_disp.yaml", _nan_yaml_lattice, "NaN or Inf"),
]


@pytest.mark.parametrize(
    ("name", "corrupt", "token"),
    FINETUNE_CASES,
    ids=[f"{n}-{f.__name__.strip('_')}" for n, f, _ in FINETUNE_CASES],
)
def test_finetune_refuses_bad_data(
    base: dict[str, Path], tmp_path: Path, name: str, corrupt: Callable, token: str
) -> None:
    pytest.importorskip("sevenn")
    folder = _bad_folder(base, tmp_path, name, corrupt)
    out = tmp_path / "out" / "finetuned.pt"
    val = base["data"] / "s0001"
    res = CliRunner().invoke(
        cli, ["finetune", "--data", str(folder), "--val", str(val), "-o", str(out)]
    )
    _assert_refused(res, token, name)
    assert not out.parent.exists()


CKPT_CASES = [_empty, _truncated, _garbage]


@pytest.mark.parametrize("corrupt", CKPT_CASES, ids=[f.__name__.strip("_") for f in CKPT_CASES])
def test_predict_refuses_bad_checkpoint(
    base: dict[str, Path], tmp_path: Path, corrupt: Callable
) -> None:
    bad = tmp_path / "best.pt"
    corrupt(base["ckpt"], bad)
    out = tmp_path / "out" / "FORCE_CONSTANTS"
    res = CliRunner().invoke(
        cli, ["predict", str(base["ref"]), "-o", str(out), "--checkpoint", str(bad)]
    )
    _assert_refused(res, "best.pt")
    assert not out.parent.exists()


def test_missing_files_are_named(base: dict[str, Path], tmp_path: Path) -> None:
    gone = tmp_path / "nothing_here"
    out = tmp_path / "out" / "FORCE_CONSTANTS"
    cases = [
        ["predict", str(gone), "-o", str(out), "--checkpoint", str(base["ckpt"]), "--dim", "1 1 1"],
        ["predict", str(base["poscar"]), "-o", str(out), "--checkpoint", str(gone)],
        ["evaluate", str(gone), str(base["ref"])],
        ["plot", str(base["ref"]), str(gone), "-o", str(tmp_path / "p.png")],
        ["train", "--data", str(gone), "--run-dir", str(tmp_path / "run")],
        ["train", "--config", str(gone), "--data", str(base["data"]), "--run-dir", "r"],
        ["evaluate", str(tmp_path), str(base["ref"])],  # a folder with no phonopy yaml
    ]
    for args in cases:
        res = CliRunner().invoke(cli, args)
        _assert_refused(res, "nothing_here", str(tmp_path))
    assert not out.parent.exists() and not (tmp_path / "run").exists()


# --- malicious YAML: the payload would create a marker file ------------------------------


def test_malicious_yaml_never_runs(base: dict[str, Path], tmp_path: Path) -> None:
    """phonopy's own YAML reader executes python tags; fcpredict safe-loads first."""
    marker = tmp_path / MARKER_NAME
    evil = _malicious_yaml(marker)
    folder = _bad_folder(base, tmp_path, "phonopy_disp.yaml", evil)
    yml = folder / "phonopy_disp.yaml"
    out = tmp_path / "out" / "FORCE_CONSTANTS"
    run = tmp_path / "run"
    cfg = tmp_path / "cfg.yaml"
    evil(base["ref"] / "energies.json", cfg)  # any text + the payload line
    cfg.write_text(f'train:\n  steps: !!python/object/apply:os.system ["touch {marker}"]\n')
    cases = [
        ["predict", str(yml), "-o", str(out), "--checkpoint", str(base["ckpt"])],
        ["predict", str(folder), "-o", str(out), "--checkpoint", str(base["ckpt"])],
        ["evaluate", str(folder), str(base["ref"])],
        ["evaluate", str(base["ref"]), str(yml)],
        ["plot", str(folder), str(base["ref"]), "-o", str(tmp_path / "p.png")],
        ["train", "--data", str(folder), "--run-dir", str(run), "--device", "cpu"],
        ["train", "--config", str(cfg), "--data", str(base["data"]), "--run-dir", str(run)],
    ]
    for args in cases:
        res = CliRunner().invoke(cli, args)
        _assert_refused(res, yml.name, cfg.name)
        assert not marker.exists(), args
    assert not out.parent.exists() and not run.exists()


# --- out-of-range options ---------------------------------------------------------------

OPTION_CASES = [
    (["predict", "{ref}", "-o", "{out}", "--checkpoint", "{ckpt}", "--dim", "a b c"], "--dim"),
    (["predict", "{poscar}", "-o", "{out}", "--checkpoint", "{ckpt}", "--dim", "1 1"], "--dim"),
    (["predict", "{poscar}", "-o", "{out}", "--checkpoint", "{ckpt}", "--dim", "0 0 0"], "--dim"),
    (["predict", "{poscar}", "-o", "{out}", "--checkpoint", "{ckpt}", "--dim", "1.5 1 1"], "--dim"),
    (["predict", "{poscar}", "-o", "{out}", "--checkpoint", "{ckpt}"], "--dim"),
    (["predict", "{ref}", "-o", "{out}", "--checkpoint", "{ckpt}", "--mode", "x"], "--mode"),
    (["predict", "{ref}", "-o", "{out}"], "--checkpoint"),
    (["predict", "{ref}", "-o", "{out}", "--backbone", "mace-mp"], "--backbone"),
    (["predict", "{ref}", "-o", "{out}", "--checkpoint", "{ckpt}", "--device", "tpu"], "tpu"),
    (["evaluate", "{ref}", "{ref}", "--mesh", "0 8 8"], "--mesh"),
    (["evaluate", "{ref}", "{ref}", "--mesh", "nan 8 8"], "--mesh"),
    (["evaluate", "{ref}", "{ref}", "--mesh", "8 8"], "--mesh"),
    (["make-data", "{out}", "--n", "0"], "--n"),
    (["make-data", "{out}", "--dim", "0"], "--dim"),
    (["make-data", "{out}", "--seed", "-1"], "--seed"),
    (["make-data", "{out}", "--calculator", "dft"], "--calculator"),
    (["--threads", "0", "make-data", "{out}"], "--threads"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--steps", "0"], "--steps"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--steps", "-3"], "--steps"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--set", "train.steps=0"], "steps"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--set", "model.cutoff=-1"], "cutoff"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--set", "train.lr=nan"], "lr"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--set", "train.lr=.inf"], "lr"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--set", "train.batch_size=0"], "batch"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--set", "model.num_layers=0"], "layers"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--set", "model.kind=mace"], "kind"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--set", "train.dtype=f16"], "dtype"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--set", "data.val_fraction=1.5"], "val"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--set", "train.ema_decay=1"], "ema"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--seed", "-1"], "seed"),
    (["train", "--data", "{data}", "--run-dir", "{run}", "--preset", "nope"], "nope"),
    (["train", "--run-dir", "{run}", "--preset", "tiny"], "no training data"),
    (["demo", "--out", "{out}", "--steps", "0"], "--steps"),
    (["finetune", "--data", "{ref}", "-o", "{out}", "--lr", "nan"], "--lr"),
    (["finetune", "--data", "{ref}", "-o", "{out}", "--lr", "inf"], "--lr"),
    (["finetune", "--data", "{ref}", "-o", "{out}", "--lr", "0"], "--lr"),
    (["finetune", "--data", "{ref}", "-o", "{out}", "--steps", "0"], "--steps"),
    (["finetune", "--data", "{ref}", "-o", "{out}", "--seed", "-1"], "--seed"),
    (["finetune", "--data", "{run}", "-o", "{out}"], "--data"),
]


@pytest.mark.parametrize(("args", "token"), OPTION_CASES, ids=[a[-1] for a, _ in OPTION_CASES])
def test_out_of_range_options(
    base: dict[str, Path], tmp_path: Path, args: list[str], token: str
) -> None:
    paths = {k: str(v) for k, v in base.items()}
    paths |= {"out": str(tmp_path / "out" / "FC"), "run": str(tmp_path / "run")}
    res = CliRunner().invoke(cli, [a.format(**paths) for a in args])
    _assert_refused(res, token)
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()


# --- the readers themselves raise UserError naming the file ------------------------------


def test_readers_raise_user_errors(base: dict[str, Path], tmp_path: Path) -> None:
    from fcpredict.data import read_energies
    from fcpredict.phonopy_io import (
        check_force_sets,
        load_phonopy,
        read_force_constants,
        read_structure,
        safe_yaml_bytes,
    )

    ph = load_phonopy(base["ref"], produce_fc=False)
    bad = tmp_path / "bad"
    _garbage(base["fc"], bad)
    readers = [
        read_structure,
        load_phonopy,
        safe_yaml_bytes,
        check_force_sets,
        read_energies,
        lambda p: read_force_constants(p, ph),
    ]
    for reader in readers:
        with pytest.raises(UserError, match="bad"):
            reader(bad)
    nan = tmp_path / "FORCE_CONSTANTS"
    _nan_number(base["fc"], nan)
    with pytest.raises(UserError, match="NaN or Inf"):
        read_force_constants(nan, ph)


# --- resume with a different config -----------------------------------------------------


def test_resume_refuses_a_changed_config(base: dict[str, Path], tmp_path: Path) -> None:
    """--resume compares the checkpoint's model/data/seed config; --allow-config-change."""
    run = tmp_path / "run"
    args = ["train", "--preset", "tiny", "--data", str(base["data"]), "--run-dir", str(run)]
    args += ["--device", "cpu", "--set", "train.batch_size=1"]
    res = CliRunner().invoke(cli, [*args, "--steps", "2"])
    assert res.exit_code == 0, res.output
    before = (run / "checkpoints/last.pt").read_bytes()
    changed = [*args, "--steps", "3", "--set", "model.cutoff=3.9", "--resume"]
    res = CliRunner().invoke(cli, changed)
    _assert_refused(res, "model.cutoff")
    assert "--allow-config-change" in res.output
    assert (run / "checkpoints/last.pt").read_bytes() == before  # untouched
    stale = run / "checkpoints" / ".last.pt.abc123.tmp.pt"  # left by a writer killed mid-save
    stale.write_bytes(b"half a checkpoint")
    res = CliRunner().invoke(cli, [*changed, "--allow-config-change"])
    assert res.exit_code == 0, res.output
    assert not stale.exists()
    res = CliRunner().invoke(cli, [*args, "--steps", "4", "--resume"])  # train.steps may change
    _assert_refused(res, "model.cutoff")  # the stored config now has cutoff 3.9
    res = CliRunner().invoke(cli, [*args, "--resume", "--run-dir", str(tmp_path / "none")])
    _assert_refused(res, "checkpoint not found")
    assert not (tmp_path / "none").exists()
