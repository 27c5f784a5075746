"""NIfTI and DICOM export: spacing, orientation (the tumour is in the patient's right lung)
and values, re-read with nibabel and pydicom."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from common.errors import UserError
from physx4dct.export import export_volumes
from physx4dct.geometry import ConeGeometry
from physx4dct.phantom import thorax_volume, tumour_centre_mm

nib = pytest.importorskip("nibabel")
pydicom = pytest.importorskip("pydicom")

GEO = ConeGeometry(nVoxel=(20, 24, 16), dVoxel=(12.0, 10.0, 15.0), offOrigin=(4.0, -6.0, 8.0))


def _tumour_only(geo: ConeGeometry, d: float) -> np.ndarray:
    """A volume holding only the phantom's tumour, on the (offset) grid of `geo` (mm, LPS)."""
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in geo.nVoxel], indexing="ij"), -1)
    lps = (
        np.asarray(geo.offOrigin)
        + (idx + 0.5) * np.asarray(geo.dVoxel)
        - np.asarray(geo.sVoxel) / 2
    )
    import torch

    full = thorax_volume(torch.from_numpy(lps).float(), d, 0.0, 15.0, 10.0).numpy()
    centre = tumour_centre_mm(d, 0.0, 15.0)
    near = np.linalg.norm(lps - centre, axis=-1) < 14
    return np.where(near, full, 0.0).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    vols = np.stack([_tumour_only(GEO, 0.0), _tumour_only(GEO, 1.0)])
    out = tmp_path_factory.mktemp("exp") / "vols"
    files = export_volumes(vols, GEO, out)
    return vols, out, files


def _centroid(w: np.ndarray, coords: np.ndarray) -> np.ndarray:
    w = np.maximum(w - 0.1, 0)
    return (coords * w[..., None]).reshape(-1, 3).sum(0) / w.sum()


def test_nifti_spacing_orientation_values(exported):
    vols, out, _ = exported
    for k in range(2):
        img = nib.load(out / f"phase_{k:02d}.nii.gz")
        np.testing.assert_allclose(img.header.get_zooms(), GEO.dVoxel)
        assert nib.aff2axcodes(img.affine) == ("L", "P", "S")
        data = np.asarray(img.dataobj)
        np.testing.assert_allclose(data, vols[k], atol=1e-6)
        ijk = np.stack(np.meshgrid(*[np.arange(n) for n in data.shape], indexing="ij"), -1)
        ras = nib.affines.apply_affine(img.affine, ijk)
        c = _centroid(data, ras)
        lps = tumour_centre_mm(float(k), 0.0, 15.0)
        # right lung: RAS x = -LPS x > 0; the centroid sits within a voxel of the truth
        np.testing.assert_allclose(c, [-lps[0], -lps[1], lps[2]], atol=0.5 * max(GEO.dVoxel))
        assert c[0] > 40


def test_dicom_series_geometry_and_hu(exported):
    vols, out, _ = exported
    series = set()
    for k in range(2):
        files = sorted((out / "dicom" / f"phase_{k:02d}").glob("*.dcm"))
        assert len(files) == GEO.nVoxel[2]
        ds = [pydicom.dcmread(f) for f in files]
        series.add(ds[0].SeriesInstanceUID)
        assert len({d.FrameOfReferenceUID for d in ds}) == 1
        assert [float(v) for v in ds[0].PixelSpacing] == [GEO.dVoxel[1], GEO.dVoxel[0]]
        assert [float(v) for v in ds[0].ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        z = np.array([float(d.ImagePositionPatient[2]) for d in ds])
        np.testing.assert_allclose(np.diff(z), GEO.dVoxel[2])
        assert (ds[0].Rows, ds[0].Columns) == (GEO.nVoxel[1], GEO.nVoxel[0])
        hu = np.stack(
            [d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds], -1
        )
        back = 0.2 * (hu.transpose(1, 0, 2) / 1000.0 + 1.0)
        np.testing.assert_allclose(back, vols[k], atol=1.1e-4)
        # LPS position of every voxel from IPP + spacing: the tumour where the phantom drew it
        x0, y0 = (float(v) for v in ds[0].ImagePositionPatient[:2])
        gx = x0 + np.arange(ds[0].Columns) * GEO.dVoxel[0]
        gy = y0 + np.arange(ds[0].Rows) * GEO.dVoxel[1]
        coords = np.stack(np.meshgrid(gx, gy, z, indexing="ij"), -1)
        c = _centroid(back, coords)
        np.testing.assert_allclose(c, tumour_centre_mm(float(k), 0.0, 15.0), atol=6.0)
    assert len(series) == 2


def test_export_refuses_a_non_empty_dir_and_bad_shapes(exported, tmp_path):
    vols, out, _ = exported
    with pytest.raises(UserError, match="not empty"):
        export_volumes(vols, GEO, out)
    bad = dataclasses.replace(GEO, nVoxel=(8, 8, 8))
    with pytest.raises(UserError, match="nVoxel"):
        export_volumes(vols, bad, tmp_path / "x")
    assert not (tmp_path / "x").exists()
