"""Scan format, phantom and breathing-trace checks."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from common.errors import UserError
from physx4dct.config import PhantomConfig
from physx4dct.data import phase_bins, read_scan, simulate_scan, write_scan
from physx4dct.phantom import make_trace


def test_pickle_round_trip(tiny_scan_path, tmp_path):
    scan = read_scan(tiny_scan_path)
    out = tmp_path / "copy.pickle"
    write_scan(scan, out)
    again = read_scan(out)
    assert again.geo == scan.geo
    for a, b in ((scan.train, again.train), (scan.val, again.val)):
        np.testing.assert_allclose(a.projections, b.projections, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(a.angles, b.angles)
        np.testing.assert_allclose(a.time_s, b.time_s, rtol=1e-12)
        np.testing.assert_array_equal(a.phase, b.phase)
    np.testing.assert_array_equal(scan.volumes, again.volumes)
    np.testing.assert_allclose(scan.volume_time_s, again.volume_time_s, rtol=1e-12)
    with open(out, "rb") as handle:
        raw = pickle.load(handle)
    for key in (
        "DSD",
        "DSO",
        "nDetector",
        "dDetector",
        "nVoxel",
        "dVoxel",
        "offOrigin",
        "offDetector",
        "numTrain",
        "numVal",
        "train",
        "val",
        "image",
    ):
        assert key in raw
    assert raw["train"]["projections"].shape == (37, 32, 32)


def test_mm_projections_are_rescaled(tiny_scan_path, tmp_path):
    scan = read_scan(tiny_scan_path)
    native = tmp_path / "native.pickle"
    write_scan(scan, native, layout="native")
    with open(native, "rb") as handle:
        raw = pickle.load(handle)
    raw["projection_unit"] = "mm"
    raw["train"]["projections"] = raw["train"]["projections"] / scan.geo.scale
    path = tmp_path / "mm.pickle"
    path.write_bytes(pickle.dumps(raw))
    np.testing.assert_allclose(read_scan(path).train.projections, scan.train.projections, rtol=1e-5)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a pickle", "not a readable pickle"),
        (pickle.dumps({"DSD": 1500}), "missing"),
        (pickle.dumps([1, 2, 3]), "missing"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.pickle"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as info:
        read_scan(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_shape_mismatch_is_reported(tiny_scan_path, tmp_path):
    with open(tiny_scan_path, "rb") as handle:
        raw = pickle.load(handle)
    raw["nDetector"] = [16, 16]
    path = tmp_path / "mismatch.pickle"
    path.write_bytes(pickle.dumps(raw))
    with pytest.raises(UserError, match="nDetector"):
        read_scan(path)


def test_breathing_traces():
    reg = make_trace(60.0, 4.0)
    assert abs(reg.mean_period_s() - 4.0) < 1e-3
    assert reg.displacement.min() >= 0 and abs(reg.displacement.max() - 1) < 1e-3
    irr = make_trace(60.0, 4.0, "irregular", seed=3)
    peaks = irr.displacement[np.r_[False, np.diff(np.sign(np.diff(irr.displacement))) < 0, False]]
    assert peaks.std() > 0.05  # amplitude varies from cycle to cycle
    drift = make_trace(60.0, 4.0, drift=0.2)
    assert abs((drift.displacement - reg.displacement)[-1] - 0.2) < 1e-2
    with pytest.raises(ValueError, match="unknown breathing"):
        make_trace(60.0, 4.0, "gasping")


def test_phantom_diaphragm_moves_and_static_does_not(tiny_scan_path):
    scan = read_scan(tiny_scan_path)
    vols = scan.volumes
    exhale, inhale = vols[0], vols[len(vols) // 2]

    def lung_voxels(v):
        return ((v > 0.02) & (v < 0.1)).sum()

    # the lungs grow at inhale (the dome descends 15 mm)
    assert lung_voxels(inhale) > lung_voxels(exhale) * 1.05
    assert np.all(np.diff(scan.train.time_s) > 0)
    assert phase_bins(scan.train.phase, 10).max() <= 9
    still = simulate_scan(
        PhantomConfig(n_views=4, n_val=0, detector=16, volume=16, static=True, n_phases=2)
    )
    np.testing.assert_array_equal(still.volumes[0], still.volumes[1])


def test_every_cycle_has_its_truth(tiny_scan_path):
    """`cycle_phase_times` holds the scored (middle) cycle, its phases advance by 1/P of a cycle,
    and `truth_volumes` at those times is exactly the truth `simulate_scan` stored."""
    from physx4dct.data import cycle_phase_times, truth_volumes
    from physx4dct.phantom import make_trace
    from tests.physx4dct.conftest import TINY

    scan = read_scan(tiny_scan_path)
    times = cycle_phase_times(TINY)
    trace = make_trace(
        TINY.scan_s, TINY.period_s, TINY.trace, period_jitter=TINY.period_jitter,
        amplitude_jitter=TINY.amplitude_jitter, drift=TINY.drift, seed=TINY.seed,
    )  # fmt: skip
    assert times.shape[1] == TINY.n_phases and len(times) >= 10  # 60 s at ~4 s per breath
    assert times.min() >= 0 and times.max() <= TINY.scan_s
    phase = trace.at(times.ravel())[0].reshape(times.shape)
    np.testing.assert_allclose(np.diff(phase, axis=1), 1 / TINY.n_phases, atol=1e-6)
    row = int(np.argmin(np.abs(times[:, 0] - scan.volume_time_s[0])))
    np.testing.assert_allclose(times[row], scan.volume_time_s, atol=1e-9)
    np.testing.assert_array_equal(truth_volumes(TINY, times[row][:2]), scan.volumes[:2])
    irregular = PhantomConfig(volume=16, detector=16, trace="irregular")  # cycles differ
    t = cycle_phase_times(irregular)[[2, 3], 5]
    a, b = truth_volumes(irregular, t)
    assert np.abs(a - b).max() > 1e-3  # same phase, another depth of breath
