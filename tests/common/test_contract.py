"""The shared contract pieces: UserError in one line, config ranges, schedule, resume checks,
stale temporaries, and the torchrun wrapper's clean stop."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import click
import pytest
from click.testing import CliRunner

from common.checkpoint import CheckpointError, check_resume_config, clean_stale_tmp
from common.config import ConfigError, check_range, load_config
from common.errors import UserError
from common.io import atomic_path
from common.options import UserErrorGroup
from common.schedule import warmup_cosine
from tests.conftest import clean_env, wait_for_lines

TOY = Path(__file__).with_name("toy_train.py")


@dataclass(frozen=True)
class _Cfg:
    steps: int = 3
    lr: float = 1e-3
    dtype: Literal["float32", "float64"] = "float64"

    def __post_init__(self) -> None:
        check_range(self, "steps", ge=1)
        check_range(self, "lr", gt=0)


@pytest.mark.parametrize(
    ("item", "needle"),
    [
        ("steps=0", "'steps' must be >= 1, got 0"),
        ("lr=-1", "'lr' must be > 0"),
        ("lr=nan", "not NaN"),
        ("dtype=float46", "one of ['float32', 'float64']"),
    ],
)
def test_config_refuses_bad_values_naming_the_key(item: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_Cfg, sets=[item])
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_user_error_is_one_line_with_path() -> None:
    err = UserError("bad\nthing   here", path="x.h5")
    assert str(err) == "x.h5: bad thing here"


def test_group_prints_user_error_in_one_line() -> None:
    @click.group(cls=UserErrorGroup)
    def cli() -> None:
        """Toy."""

    @cli.command()
    def boom() -> None:
        raise UserError("no such variable 'chi'", path="data.h5")

    @cli.command()
    def conf() -> None:
        raise ConfigError("config key 'x' expects a number")

    res = CliRunner().invoke(cli, ["boom"])
    assert res.exit_code == 1
    assert res.output.strip() == "Error: data.h5: no such variable 'chi'"
    res = CliRunner().invoke(cli, ["conf"])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_warmup_cosine_shape() -> None:
    assert warmup_cosine(0, 100, warmup=10) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, warmup=10) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, warmup=10, floor=0.05) == pytest.approx(1.0)
    assert warmup_cosine(100, 100, warmup=10, floor=0.05) == pytest.approx(0.05)
    mid = warmup_cosine(55, 100, warmup=10, floor=0.0)
    assert mid == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    values = [warmup_cosine(s, 50, 5, 0.1) for s in range(5, 60)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_resume_config_check_names_changed_keys() -> None:
    old = {"model": {"width": 8, "depth": 2}, "data": {"grid": 16}, "train": {"steps": 10}}
    new = {"model": {"width": 16, "depth": 2}, "data": {"grid": 16}, "train": {"steps": 99}}
    with pytest.raises(CheckpointError, match=r"model\.width") as err:
        check_resume_config(old, new, source="run/last.pt")
    assert "train" not in str(err.value)  # a longer run is a legitimate resume
    assert check_resume_config(old, new, allow=True) == ["model.width"]
    assert check_resume_config(old, old) == []


def test_stale_temporaries_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".last.pt.abc.tmp.pt").write_bytes(b"x")
    (tmp_path / "last.pt").write_bytes(b"keep")
    removed = clean_stale_tmp(tmp_path)
    assert [p.name for p in removed] == [".last.pt.abc.tmp.pt"]
    assert (tmp_path / "last.pt").read_bytes() == b"keep"
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.h5") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == [tmp_path / "last.pt"]


@pytest.mark.slow
def test_launch_wrapper_stops_cleanly_on_sigterm(tmp_path: Path, free_port: int) -> None:
    cmd = [
        sys.executable,
        "-m",
        "common.launch",
        "--nproc_per_node=2",
        f"--master_port={free_port}",
        str(TOY),
        "--run-dir",
        str(tmp_path),
        "--steps",
        "100000",
        "--ckpt-every",
        "100000",
        "--sleep-s",
        "0.05",
    ]
    proc = subprocess.Popen(
        cmd, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    metrics = tmp_path / "metrics.jsonl"
    wait_for_lines(metrics, 3, timeout_s=90)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert "stopped by SIGTERM" in err
    assert (tmp_path / "checkpoints" / "last.pt").is_file()
