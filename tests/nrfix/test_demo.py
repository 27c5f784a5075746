"""The demo's summary says plainly whether the network made the constraints better or worse."""

from __future__ import annotations

from nrfix.demo import verdict


def test_verdict_reports_worse_data():
    v = verdict({"ham_median": 1e-3, "ham_rms": 1e-2}, {"ham_median": 2e-3, "ham_rms": 1e-2})
    assert not v["improved"] and v["median_reduction"] == 0.5
    assert v["message"].startswith("WARNING") and "2.00x WORSE" in v["message"]


def test_verdict_reports_reduction():
    v = verdict({"ham_median": 1e-3, "ham_rms": 1e-2}, {"ham_median": 2.5e-4, "ham_rms": 5e-3})
    assert v["improved"] and "REDUCED median |Ham| 4.00x" in v["message"]
