"""Export volumes per phase as NIfTI (nibabel) and DICOM CT series (pydicom).

Patient axes: the phantom (and the NAF / X²-Gaussian geometry it follows) has +x towards the
patient's left (the heart sits at +x, the right lung's tumour at -x), +y posterior (the spine
at +y) and +z superior (the diaphragm descends to -z at inhale): LPS, DICOM's own frame.
Voxel (i, j, k) of a volume indexed [x, y, z] has its centre at
p_LPS = offOrigin + ((i, j, k) + 1/2) * dVoxel - sVoxel / 2 (mm).

* NIfTI (`phase_XX.nii.gz`, RAS+ as NIfTI requires): affine = diag(-dx, -dy, dz) with the
  first voxel centre in RAS, sform and qform code 1 (scanner); values as stored (attenuation).
* DICOM (`dicom/phase_XX/slice_KKK.dcm`, CT Image Storage, one series per phase, one frame of
  reference for all): slice k is the axial plane z_k; pixel (row r, column c) = voxel (c, r, k);
  ImageOrientationPatient [1,0,0, 0,1,0], PixelSpacing [dy, dx], ImagePositionPatient the
  centre of voxel (0, 0, k). Values in HU = 1000 (v / v_water - 1) (`water_value` 0.2 for the
  phantom), int16 with RescaleSlope 1, RescaleIntercept 0.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from common.errors import UserError
from common.io import atomic_path
from physx4dct.geometry import ConeGeometry

__all__ = [
    "affine_ras",
    "write_nifti",
    "write_dicom_series",
    "export_volumes",
    "reconstruction_volumes",
]

_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _first_centre_lps(geo: ConeGeometry) -> np.ndarray:
    return np.asarray(geo.offOrigin, float) + (np.asarray(geo.dVoxel) - np.asarray(geo.sVoxel)) / 2


def affine_ras(geo: ConeGeometry) -> np.ndarray:
    """4x4 voxel-index -> RAS (mm) affine of a volume indexed [x, y, z] (LPS axes)."""
    flip = np.array([-1.0, -1.0, 1.0])
    aff = np.eye(4)
    aff[:3, :3] = np.diag(flip * np.asarray(geo.dVoxel, float))
    aff[:3, 3] = flip * _first_centre_lps(geo)
    return aff


def write_nifti(vol: np.ndarray, geo: ConeGeometry, path: str | os.PathLike[str]) -> Path:
    """One volume (nx, ny, nz) as a NIfTI-1 file with the scanner affine, atomically."""
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(vol, np.float32), affine_ras(geo))
    img.set_sform(affine_ras(geo), code=1)
    img.set_qform(affine_ras(geo), code=1)
    img.header.set_xyzt_units("mm", "sec")
    path = Path(path)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp.with_name(tmp.name + ".nii.gz")))
        os.replace(tmp.with_name(tmp.name + ".nii.gz"), tmp)
    return path


def _dataset(geo: ConeGeometry, k: int, pixels: np.ndarray, ids: dict) -> object:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = _CT_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = _CT_IMAGE_STORAGE, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientName, ds.PatientID = "CT", "physx4dct^phantom", "physx4dct"
    ds.StudyInstanceUID, ds.FrameOfReferenceUID = ids["study"], ids["frame"]
    ds.SeriesInstanceUID, ds.SeriesNumber = ids["series"], ids["phase"] + 1
    ds.SeriesDescription = f"physx4dct phase {ids['phase']} ({ids['phase'] * 10}%)"
    ds.InstanceNumber = k + 1
    z0 = _first_centre_lps(geo)
    pos = [float(z0[0]), float(z0[1]), float(z0[2] + k * geo.dVoxel[2])]
    ds.ImagePositionPatient, ds.SliceLocation = pos, pos[2]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [float(geo.dVoxel[1]), float(geo.dVoxel[0])]
    ds.SliceThickness = ds.SpacingBetweenSlices = float(geo.dVoxel[2])
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, 0, "HU"
    ds.PixelData = pixels.astype("<i2").tobytes()
    return ds


def write_dicom_series(
    vol: np.ndarray,
    geo: ConeGeometry,
    out_dir: str | os.PathLike[str],
    phase: int = 0,
    ids: dict | None = None,
    water_value: float = 0.2,
) -> Path:
    """One volume (nx, ny, nz) as an axial CT series (one file per z slice) in `out_dir`."""
    from pydicom.uid import generate_uid

    ids = dict(ids or {"study": generate_uid(), "frame": generate_uid()})
    ids.update(series=generate_uid(), phase=phase)
    hu = np.clip(np.rint(1000.0 * (np.asarray(vol, float) / water_value - 1.0)), -32768, 32767)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for k in range(hu.shape[2]):
        ds = _dataset(geo, k, hu[:, :, k].T, ids)
        ds.save_as(out / f"slice_{k:03d}.dcm", enforce_file_format=True)
    return out


def export_volumes(
    vols: np.ndarray,
    geo: ConeGeometry,
    out_dir: str | os.PathLike[str],
    formats: tuple[str, ...] = ("nifti", "dicom"),
    water_value: float = 0.2,
) -> list[Path]:
    """Volumes (P, nx, ny, nz) per phase into `out_dir` (written in a temp dir, then renamed).

    Raises
    ------
    UserError
        `out_dir` exists and is not empty, or the volumes do not match the geometry.
    """
    from pydicom.uid import generate_uid

    vols = np.asarray(vols)
    if vols.ndim != 4 or vols.shape[1:] != tuple(geo.nVoxel) or not np.isfinite(vols).all():
        raise UserError(f"volumes {vols.shape} do not match nVoxel {list(geo.nVoxel)}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise UserError("exists and is not empty", path=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        ids = {"study": generate_uid(), "frame": generate_uid()}
        for k, vol in enumerate(vols):
            if "nifti" in formats:
                write_nifti(vol, geo, tmp / f"phase_{k:02d}.nii.gz")
            if "dicom" in formats:
                write_dicom_series(vol, geo, tmp / "dicom" / f"phase_{k:02d}", k, ids, water_value)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(p for p in out.rglob("*") if p.is_file())


def reconstruction_volumes(scan: object, model: object | None, fdk: str | None) -> np.ndarray:
    """(P, nx, ny, nz) of a trained model at the ground-truth times, an FDK baseline
    (`binned` / `all`) or, with neither, the scan's own ground truth.
    """
    from physx4dct.evaluate import fdk_volumes, model_volumes

    if model is not None:
        return model_volumes(model, scan)
    if fdk is not None:
        return fdk_volumes(scan, fdk)
    if scan.volumes is None:
        raise UserError("the scan has no ground-truth volumes; give --checkpoint or --fdk")
    return scan.volumes
