"""Scan pickles are loaded with a restricted unpickler: data only, never code (issue 23)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from common.errors import UserError
from physx4dct.cli import cli
from physx4dct.data import read_scan
from physx4dct.safe_pickle import load_pickle, loads_pickle


class _Payload:
    """Unpickling this object runs `touch <marker>` (what an attacker's scan would do)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_scan(tmp_path, protocol: int):
    marker = tmp_path / "PWNED"
    scan = {"DSD": 1500.0, "DSO": 1000.0, "train": _Payload(str(marker))}
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps(scan, protocol=protocol))
    return path, marker


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_payload_is_refused_before_it_runs(tmp_path, protocol):
    path, marker = _evil_scan(tmp_path, protocol)
    with pytest.raises(UserError) as info:
        read_scan(path)
    msg = str(info.value)
    assert not marker.exists()
    assert "\n" not in msg and str(path) in msg and "system" in msg


def test_cli_exits_non_zero_with_one_line_and_no_marker(tmp_path):
    path, marker = _evil_scan(tmp_path, 4)
    res = CliRunner().invoke(cli, ["evaluate", "--data", str(path), "--fdk", "all"])
    assert res.exit_code != 0
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(path) in lines[0] and "refused" in lines[0]
    assert "Traceback" not in res.output
    assert not marker.exists()


def test_cli_subprocess_really_exits_non_zero(tmp_path):
    """The installed entry point, in a fresh interpreter: exit 1, one stderr line, no marker."""
    path, marker = _evil_scan(tmp_path, 5)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "physx4dct", "evaluate", "--data", str(path), "--fdk", "all"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 1
    assert len(res.stderr.strip().splitlines()) == 1 and "refused" in res.stderr
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_real_layout_content_loads(protocol):
    """What the NAF/X² pickles hold: nested dicts, lists, None, numpy arrays and scalars."""
    data = {
        "DSD": 1500.0,
        "nDetector": [64, 64],
        "filter": None,
        "mode": "cone",
        "randomAngle": False,
        "accuracy": np.float64(0.5),
        "numTrain": np.int64(3),
        "shape": (1, 2),
        "raw": b"\x00\x01",
        "train": {
            "angles": np.linspace(0, 1, 3),
            "projections": np.ones((3, 4, 5), np.float32),
            "phase": np.array([0, 1, 9], np.int32),
            "time": np.asfortranarray(np.ones((2, 3))),
        },
        "image": np.zeros((2, 3, 4, 5), np.float32),
    }
    out = loads_pickle(pickle.dumps(data, protocol=protocol))
    assert out.keys() == data.keys()
    np.testing.assert_array_equal(out["train"]["projections"], data["train"]["projections"])
    np.testing.assert_array_equal(out["train"]["time"], data["train"]["time"])
    assert out["train"]["phase"].dtype == np.int32 and out["accuracy"] == 0.5


@pytest.mark.parametrize(
    "obj, word",
    [
        (np.array([1, "a", None], dtype=object), "objects"),
        ({1, 2}, "set"),
        (pickle.PickleError("x"), "PickleError"),
    ],
)
def test_other_objects_are_refused(obj, word):
    with pytest.raises(UserError, match=word):
        loads_pickle(pickle.dumps({"train": obj}, protocol=4), "x.pickle")


@pytest.mark.parametrize(
    "content, message",
    [(b"", "not a readable pickle"), (b"garbage", "not a readable pickle")],
)
def test_broken_files(tmp_path, content, message):
    path = tmp_path / "broken.pickle"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        load_pickle(path)
    with pytest.raises(UserError, match="file not found"):
        load_pickle(tmp_path / "missing.pickle")
