"""Faithful copies of the field's scan readers (their loading logic, rewritten for tests).

* `x2_read_naf_info`: X²-Gaussian `x2_gaussian/dataset/dataset_readers.py::readNAFInfo`
  (scanner keys mm -> m, scene scale 2 / max(sVoxel in m), every projection multiplied by it,
  `numTrain` / `numVal` views, `time` and `phase` per view, `data["val"]` for the test split,
  `image` as the ground truth) and the ground-truth times of its `train.py` evaluation.
* `naf_tigre_dataset`: NAF `src/dataset/tigre.py` (`ConeGeometry` in m, needs `accuracy`,
  `mode`, `filter`; `TIGREDataset` reads `projections`, `angles`, `numTrain`, `image`).
* `stnf_tigre_dataset`: STNF4D `src/dataset/tigre.py` (as NAF with `phase` per view; its
  network maps phase p to t = (p - 1) / (num_phases - 1)).
They use plain `pickle.load` as the originals do, so only our own files are given to them.
"""

from __future__ import annotations

import pickle

import numpy as np

_SCALED = ("dVoxel", "sVoxel", "sDetector", "dDetector", "offOrigin", "offDetector", "DSD", "DSO")


def x2_read_naf_info(path, eval_split: bool = True) -> dict:
    """X²-Gaussian's readNAFInfo: scanner config in scene units and one record per view."""
    with open(path, "rb") as f:
        data = pickle.load(f)
    cfg = {
        "DSD": data["DSD"] / 1000,
        "DSO": data["DSO"] / 1000,
        "nVoxel": data["nVoxel"],
        "dVoxel": (np.array(data["dVoxel"]) / 1000).tolist(),
        "sVoxel": (np.array(data["nVoxel"]) * np.array(data["dVoxel"]) / 1000).tolist(),
        "nDetector": data["nDetector"],
        "dDetector": (np.array(data["dDetector"]) / 1000).tolist(),
        "sDetector": (np.array(data["nDetector"]) * np.array(data["dDetector"]) / 1000).tolist(),
        "offOrigin": (np.array(data["offOrigin"]) / 1000).tolist(),
        "offDetector": (np.array(data["offDetector"]) / 1000).tolist(),
        "totalAngle": data["totalAngle"],
        "startAngle": data["startAngle"],
        "accuracy": data["accuracy"],
        "mode": data["mode"],
        "filter": None,
    }
    scene_scale = 2 / max(cfg["sVoxel"])
    for key in _SCALED:
        cfg[key] = (np.array(cfg[key]) * scene_scale).tolist()
    cams: dict[str, list] = {"train": [], "test": []}
    for split in ["train", "test"] if eval_split else ["train"]:
        n_split = data["numVal"] if split == "test" else data["numTrain"]
        src = data["val"] if split == "test" and "val" in data else data[split]
        angles, projs = src["angles"], src["projections"]
        times, phases = src["time"], src["phase"]
        for i in range(n_split):
            cams[split].append(
                {
                    "angle": angles[i],
                    "image": projs[i] * scene_scale,
                    "time": times[i],
                    "phase": phases[i],
                    "width": cfg["nDetector"][1],
                    "height": cfg["nDetector"][0],
                }
            )
    return {
        "train": cams["train"],
        "test": cams["test"],
        "vol": np.asarray(data["image"]),
        "scanner_cfg": cfg,
        "scene_scale": scene_scale,
    }


def x2_eval_times(num_phases: int = 10) -> list[float]:
    """Times at which X²-Gaussian's train.py scores ground-truth volume t (fraction of scan)."""
    breath_cycle, scan_time = 3.0, 60.0
    phase_time = breath_cycle / num_phases
    return [(phase_time / 2 + phase_time * t) / scan_time for t in range(num_phases)]


def naf_tigre_dataset(path, split: str = "train") -> dict:
    """NAF's ConeGeometry + TIGREDataset fields (lengths in m)."""
    with open(path, "rb") as handle:
        data = pickle.load(handle)
    geo = {
        "DSD": data["DSD"] / 1000,
        "DSO": data["DSO"] / 1000,
        "nDetector": np.array(data["nDetector"]),
        "dDetector": np.array(data["dDetector"]) / 1000,
        "nVoxel": np.array(data["nVoxel"]),
        "dVoxel": np.array(data["dVoxel"]) / 1000,
        "offOrigin": np.array(data["offOrigin"]) / 1000,
        "offDetector": np.array(data["offDetector"]) / 1000,
        "accuracy": data["accuracy"],
        "mode": data["mode"],
        "filter": data["filter"],
    }
    geo["sVoxel"] = geo["nVoxel"] * geo["dVoxel"]
    return {
        "geo": geo,
        "projs": np.asarray(data[split]["projections"], np.float32),
        "angles": data[split]["angles"],
        "n_samples": data["numTrain"] if split == "train" else data["numVal"],
        "image": np.asarray(data["image"], np.float32),
    }


def stnf_tigre_dataset(path, split: str = "train", num_phases: int = 10) -> dict:
    """STNF4D's TIGREDataset with is_dynet=True, and the time its network derives per view."""
    with open(path, "rb") as handle:
        data = pickle.load(handle)
    aux = {key: data[key] for key in ("accuracy", "mode", "filter")}  # its ConeGeometry reads them
    phase = np.asarray(data[split]["phase"])
    return {
        "aux": aux,
        "projs": data[split]["projections"],
        "angles": data[split]["angles"],
        "phase": phase,
        "t": (phase - 1) / (num_phases - 1),
        "n_samples": data["numTrain"] if split == "train" else phase.shape[0],
        "image": data["image"],
        "sVoxel_m": np.array(data["nVoxel"]) * np.array(data["dVoxel"]) / 1000,
    }
