"""Restricted unpickling of scan files: only what the NAF / X²-Gaussian / STNF4D layouts hold.

A pickle is a program: `pickle.load` calls any importable function the file names (a crafted
scan can run a shell command). Scans are therefore read with an unpickler whose `find_class`
admits only NumPy's own array, dtype and scalar reconstructors (and `_codecs.encode`, which
protocol-2 pickles use for raw bytes); dicts, lists, tuples, strings, numbers, booleans and None
need no class lookup at all. Anything else (an `os.system`, a `subprocess.Popen`, a torch
tensor, any custom class) is refused before it is created, with one line naming the file.
After loading, the object tree is walked once more and arrays of Python objects are refused.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
from typing import Any

import numpy as np

from common.errors import UserError

__all__ = ["load_pickle", "loads_pickle", "ALLOWED_GLOBALS"]


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """The NumPy callables a pickled array/dtype/scalar names, under numpy 1.x and 2.x names."""
    from numpy._core import multiarray, numeric

    out: dict[tuple[str, str], Any] = {}
    for core in ("numpy.core", "numpy._core"):
        out[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        out[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        out[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer
    out[("numpy", "ndarray")] = np.ndarray
    out[("numpy", "dtype")] = np.dtype
    out[("_codecs", "encode")] = codecs.encode
    return out


ALLOWED_GLOBALS = _numpy_globals()
"""(module, name) -> object: everything a scan pickle may reference."""

_PLAIN = (dict, list, tuple, str, bytes, int, float, bool, complex, type(None))


class _Refused(pickle.UnpicklingError):
    """The pickle names something a scan never holds."""


class _ScanUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _Refused(
                f"refused to load '{module}.{name}' (a scan holds only NumPy arrays, "
                "numbers, strings, lists and dicts)"
            ) from None


def _check_tree(obj: Any, depth: int = 0) -> None:
    """Raise UnpicklingError for object arrays or anything that is not plain data."""
    if depth > 50:
        raise _Refused("nested more than 50 levels deep")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise _Refused("holds an array of Python objects")
        return
    if isinstance(obj, np.generic | np.dtype):
        return
    if not isinstance(obj, _PLAIN):
        raise _Refused(f"refused: holds a {type(obj).__name__}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_tree(k, depth + 1)
            _check_tree(v, depth + 1)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _check_tree(v, depth + 1)


def loads_pickle(data: bytes, source: str | os.PathLike[str] = "<bytes>") -> Any:
    """Unpickle `data` with the restricted unpickler; UserError naming `source` when refused."""
    try:
        obj = _ScanUnpickler(io.BytesIO(data)).load()
        _check_tree(obj)
    except _Refused as exc:
        raise UserError(f"not a safe scan pickle: {exc}", path=source) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
    ) as exc:
        raise UserError(f"not a readable pickle ({type(exc).__name__})", path=source) from None
    except MemoryError:
        raise UserError("not a readable pickle (too large or corrupt)", path=source) from None
    return obj


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """Read a scan pickle from `path` safely (see the module docstring).

    Parameters
    ----------
    path
        The `.pickle` file.

    Returns
    -------
    The unpickled object (dicts, lists, tuples, numbers, strings, None, NumPy arrays).

    Raises
    ------
    UserError
        Missing file, unreadable pickle, or a pickle that names anything but NumPy data.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise UserError("file not found", path=path) from None
    except IsADirectoryError:
        raise UserError("is a directory, not a scan file", path=path) from None
    except PermissionError:
        raise UserError("permission denied", path=path) from None
    return loads_pickle(data, path)
