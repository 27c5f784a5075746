"""The field's scan layouts: foreign pickles built key by key, and the field's readers on ours."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from common.errors import UserError
from physx4dct.config import PhantomConfig
from physx4dct.data import Scan, phase_bins, read_scan, simulate_scan, write_scan
from physx4dct.evaluate import fdk_volumes, score_volumes
from physx4dct.layouts import detect_layout, x2_volume_times
from tests.physx4dct.field_readers import (
    naf_tigre_dataset,
    stnf_tigre_dataset,
    x2_eval_times,
    x2_read_naf_info,
)

P = 10


@pytest.fixture(scope="module")
def x2_like_scan() -> Scan:
    """A 60-view 4D scan holding only what the X² layout can hold (bins, X² GT times)."""
    cfg = PhantomConfig(n_views=60, n_val=5, detector=16, volume=16, period_s=3.0, seed=2)
    scan = simulate_scan(cfg)

    def binned(v):
        return dataclasses.replace(v, phase=phase_bins(v.phase, P) / P)

    return dataclasses.replace(
        scan,
        train=binned(scan.train),
        val=binned(scan.val),
        volume_time_s=x2_volume_times(P) * 60.0,
        volume_phase=np.arange(P) / P,
        breathing=None,
        meta={},
    )


def _geometry_keys(scan: Scan) -> dict:
    g = scan.geo
    return {
        "DSD": g.DSD,
        "DSO": g.DSO,
        "nDetector": list(g.nDetector),
        "dDetector": list(g.dDetector),
        "nVoxel": list(g.nVoxel),
        "dVoxel": list(g.dVoxel),
        "offOrigin": [0.0, 0.0, 0.0],
        "offDetector": [0.0, 0.0],
        "accuracy": 0.5,
        "mode": "cone",
        "filter": None,
        "totalAngle": 360.0,
        "startAngle": 0.0,
        "randomAngle": False,
        "convert": False,
        "rescale_slope": 1.0,
        "rescale_intercept": 0.0,
        "normalize": True,
        "noise": 0,
    }


def _metres(scan: Scan, proj: np.ndarray) -> np.ndarray:
    """Line integrals with lengths in scene units -> lengths in metres (what TIGRE gives)."""
    return (proj / (2.0 / (max(scan.geo.sVoxel) / 1000.0))).astype(np.float32)


def foreign_x2(scan: Scan, path) -> None:
    """An X²-Gaussian pickle written key by key, as their data generator lays it out."""
    data = _geometry_keys(scan)
    data["numTrain"], data["numVal"] = len(scan.train.angles), len(scan.val.angles)
    data["image"] = scan.volumes
    for key, v in (("train", scan.train), ("val", scan.val)):
        data[key] = {
            "angles": v.angles,
            "projections": _metres(scan, v.projections),
            "time": v.time_s / 60.0,
            "phase": np.rint(v.phase * P).astype(np.int64) % P,
        }
    path.write_bytes(pickle.dumps(data, pickle.HIGHEST_PROTOCOL))


def foreign_stnf(scan: Scan, path) -> None:
    """An STNF4D pickle: phases 1..10 per view, no time, projections in metres."""
    data = _geometry_keys(scan)
    data["numTrain"], data["numVal"] = len(scan.train.angles), len(scan.val.angles)
    data["image"] = scan.volumes
    for key, v in (("train", scan.train), ("val", scan.val)):
        data[key] = {
            "angles": v.angles,
            "projections": _metres(scan, v.projections),
            "phase": (np.rint(v.phase * P).astype(np.int32) % P) + 1,
        }
    path.write_bytes(pickle.dumps(data, pickle.HIGHEST_PROTOCOL))


def _assert_same(a: Scan, b: Scan) -> None:
    assert a.geo == b.geo and a.scan_s == pytest.approx(b.scan_s)
    for va, vb in ((a.train, b.train), (a.val, b.val)):
        np.testing.assert_allclose(va.projections, vb.projections, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(va.angles, vb.angles)
        np.testing.assert_allclose(va.time_s, vb.time_s, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(va.phase, vb.phase, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(a.volumes, b.volumes)
    np.testing.assert_allclose(a.volume_time_s, b.volume_time_s, rtol=1e-12)
    np.testing.assert_allclose(a.volume_phase, b.volume_phase, rtol=1e-12)


def test_native_and_foreign_x2_give_the_same_scan_and_scores(x2_like_scan, tmp_path):
    native, x2 = tmp_path / "native.pickle", tmp_path / "x2.pickle"
    write_scan(x2_like_scan, native, layout="native")
    foreign_x2(x2_like_scan, x2)
    a, b = read_scan(native), read_scan(x2)
    assert (a.meta["layout"], b.meta["layout"]) == ("native", "x2")
    _assert_same(a, b)
    _assert_same(a, x2_like_scan)
    # X²'s ground-truth times: (0.15 + 0.3 k) / 60 of a 60 s scan
    np.testing.assert_allclose(b.volume_time_s / b.scan_s, x2_eval_times(P), rtol=1e-12)
    sa = score_volumes(fdk_volumes(a, "binned"), a.volumes)
    sb = score_volumes(fdk_volumes(b, "binned"), b.volumes)
    assert len(sa["per_phase"]) == len(sb["per_phase"]) == P
    for key, value in sa["mean"].items():
        assert sb["mean"][key] == pytest.approx(value, rel=1e-5)


def test_metres_are_converted_to_scene_units(x2_like_scan, tmp_path):
    """Reading metres as scene units would make FDK-all 20 log10(k) dB worse (issue 27)."""
    path = tmp_path / "x2.pickle"
    foreign_x2(x2_like_scan, path)
    scan = read_scan(path)
    scale = 2.0 / (max(scan.geo.sVoxel) / 1000.0)
    with open(path, "rb") as handle:
        raw = pickle.load(handle)
    np.testing.assert_allclose(
        scan.train.projections, raw["train"]["projections"] * scale, rtol=1e-6
    )
    assert scale > 5  # the 6.25x of the issue for a 320 mm volume


def test_x2_reader_loads_our_output(x2_like_scan, tmp_path):
    path = tmp_path / "ours.pickle"
    write_scan(x2_like_scan, path)  # default layout: x2
    info = x2_read_naf_info(path)
    scan = x2_like_scan
    assert len(info["train"]) == len(scan.train.angles) and len(info["test"]) == 5
    imgs = np.stack([c["image"] for c in info["train"]])
    np.testing.assert_allclose(imgs, scan.train.projections, rtol=1e-6, atol=1e-7)
    times = np.array([c["time"] for c in info["train"]])
    assert times.min() >= 0 and times.max() <= 1
    np.testing.assert_allclose(times, scan.train.time_s / scan.scan_s, rtol=1e-6)
    phases = np.array([c["phase"] for c in info["train"]])
    assert phases.dtype.kind == "i" and phases.min() >= 0 and phases.max() <= 9
    np.testing.assert_array_equal(phases, phase_bins(scan.train.phase, P))
    assert info["vol"].shape == (P, 16, 16, 16)
    cfg = info["scanner_cfg"]
    assert cfg["DSO"] == pytest.approx(scan.geo.DSO * scan.geo.scale)
    assert max(cfg["sVoxel"]) == pytest.approx(2.0)
    np.testing.assert_allclose(np.array(x2_eval_times(P)) * 60, scan.volume_time_s)


def test_naf_and_stnf_readers_load_our_output(x2_like_scan, tmp_path):
    static = dataclasses.replace(
        x2_like_scan, volumes=x2_like_scan.volumes[:1], volume_time_s=None, volume_phase=None
    )
    naf = tmp_path / "naf.pickle"
    write_scan(static, naf, layout="naf")
    d = naf_tigre_dataset(naf)
    assert d["image"].shape == (16, 16, 16) and d["n_samples"] == 60
    np.testing.assert_allclose(
        d["projs"] * 2 / d["geo"]["sVoxel"].max(), static.train.projections, rtol=1e-6
    )
    assert naf_tigre_dataset(naf, "val")["projs"].shape == (5, 16, 16)
    with pytest.raises(UserError, match="static"):
        write_scan(x2_like_scan, tmp_path / "4d_as_naf.pickle", layout="naf")
    stnf = tmp_path / "stnf.pickle"
    write_scan(x2_like_scan, stnf, layout="stnf")
    s = stnf_tigre_dataset(stnf)
    assert s["phase"].min() >= 1 and s["phase"].max() <= P and s["image"].shape[0] == P
    np.testing.assert_array_equal(s["phase"] - 1, phase_bins(x2_like_scan.train.phase, P))
    _assert_same(read_scan(stnf), x2_like_scan)  # our extra keys make it lossless


def test_foreign_stnf_and_naf_are_read(x2_like_scan, tmp_path):
    path = tmp_path / "stnf.pickle"
    foreign_stnf(x2_like_scan, path)
    scan = read_scan(path)
    assert scan.meta["layout"] == "stnf"
    np.testing.assert_allclose(scan.train.phase, x2_like_scan.train.phase, atol=1e-12)
    assert np.all(np.diff(scan.train.time_s) > 0)  # acquisition order
    bins = phase_bins(scan.train.phase, P)
    for k, t in enumerate(scan.volume_time_s):  # each GT volume at a view of its own bin
        near = np.argmin(np.abs(scan.train.time_s - t))
        assert bins[near] == k or not np.any(bins == k)
    assert len(score_volumes(fdk_volumes(scan, "binned"), scan.volumes)["per_phase"]) == P
    data = _geometry_keys(x2_like_scan)
    data.update(
        numTrain=60,
        numVal=0,
        image=x2_like_scan.volumes[0],
        train={
            "angles": x2_like_scan.train.angles,
            "projections": _metres(x2_like_scan, x2_like_scan.train.projections),
        },
    )
    naf = tmp_path / "naf.pickle"
    naf.write_bytes(pickle.dumps(data))
    static = read_scan(naf)
    assert static.meta["layout"] == "naf" and static.volumes.shape == (1, 16, 16, 16)
    assert static.volume_time_s is None and np.all(static.train.phase == 0)


def test_layout_detection_and_forcing(x2_like_scan, tmp_path):
    assert detect_layout({"train": {"time": 1, "phase": 1}}) == "x2"
    assert detect_layout({"train": {"phase": 1}}) == "stnf"
    assert detect_layout({"train": {}}) == "naf"
    assert detect_layout({"projection_unit": "scene", "train": {"time": 1}}) == "native"
    path = tmp_path / "x2.pickle"
    foreign_x2(x2_like_scan, path)
    with pytest.raises(UserError, match="image_time"):  # 10 volumes with no time: refused
        read_scan(path, layout="native")
    data = pickle.loads(path.read_bytes())
    del data["image"]
    path.write_bytes(pickle.dumps(data))
    forced = read_scan(path, layout="native")  # metres read as scene units: the old bug
    ratio = x2_like_scan.train.projections.max() / forced.train.projections.max()
    assert ratio == pytest.approx(2.0 / (max(x2_like_scan.geo.sVoxel) / 1000.0), rel=1e-5)
    with pytest.raises(UserError, match="unknown layout"):
        read_scan(path, layout="tigre")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["train"].update(time=d["train"]["time"] * 60), "fraction of the scan"),
        (lambda d: d["train"].update(phase=d["train"]["phase"] + 5), "phase bins"),
        (lambda d: d["train"].update(phase=d["train"]["phase"] + 0.5), "integer"),
        (lambda d: d.update(numTrain=500), "numTrain"),
        (lambda d: d["train"]["projections"].__setitem__((0, 0, 0), np.nan), "NaN"),
        (lambda d: d.update(image=d["image"][:, :8]), "image"),
    ],
)
def test_malformed_x2_files(x2_like_scan, tmp_path, edit, message):
    path = tmp_path / "x2.pickle"
    foreign_x2(x2_like_scan, path)
    data = pickle.loads(path.read_bytes())
    edit(data)
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(UserError, match=message) as info:
        read_scan(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
