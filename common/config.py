"""Layered, typed configuration: frozen dataclasses filled from several sources.

Precedence (later wins): dataclass defaults < YAML preset < ``--config FILE`` < CLI options
< ``--set a.b=value``. Every key is checked against the dataclass: an unknown key or a value
that cannot become the field's type is a :class:`ConfigError` naming the key and its source.
Values are converted to the field's type (YAML 1.1 reads ``3e-4`` as a string; here it
becomes a float when the field is a float).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from common.errors import UserError
from common.io import atomic_write

T = TypeVar("T")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class ConfigError(UserError):
    """A configuration value or key a user supplied is wrong; the message names the key."""


def load_config(
    cls: type[T],
    *,
    preset: str | None = None,
    presets_dir: str | Path | None = None,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    sets: Sequence[str] = (),
) -> T:
    """Build a ``cls`` instance from defaults < preset < file < overrides < ``--set`` items."""
    merged: dict[str, Any] = {}
    if preset:
        path = _preset_path(preset, presets_dir)
        _merge_layer(cls, merged, _read_yaml(path), f"preset '{preset}'")
    if config_file:
        _merge_layer(cls, merged, _read_yaml(Path(config_file)), f"config file {config_file}")
    if overrides:
        given = {k: v for k, v in overrides.items() if v is not None}
        _merge_layer(cls, merged, _nest(given), "command-line option")
    for item in sets:
        key, value = _parse_set(item)
        _merge_layer(cls, merged, _nest({key: value}), f"--set {item}")
    return _build(cls, merged, prefix="")


def from_dict(cls: type[T], data: Mapping[str, Any], source: str = "dict") -> T:
    """Rebuild a config from :func:`to_dict` output (e.g. the one stored in a checkpoint)."""
    merged: dict[str, Any] = {}
    _merge_layer(cls, merged, dict(data), source)
    return _build(cls, merged, prefix="")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain nested dict (lists, str, numbers, None): safe for YAML, JSON and checkpoints."""
    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"to_dict expects a dataclass instance, got {type(cfg).__name__}")
    return _plain(dataclasses.asdict(cfg))


def save_yaml(cfg: Any, path: str | Path) -> None:
    """Write a config (dataclass or dict) as YAML, atomically."""
    data = to_dict(cfg) if dataclasses.is_dataclass(cfg) else _plain(dict(cfg))
    with atomic_write(path) as handle:
        yaml.safe_dump(data, handle, sort_keys=False)


# --- internals -------------------------------------------------------------------------


def _preset_path(preset: str, presets_dir: str | Path | None) -> Path:
    as_path = Path(preset)
    if as_path.suffix in {".yaml", ".yml"} and as_path.is_file():
        return as_path
    if presets_dir is None:
        raise ConfigError(f"preset '{preset}' given but this command has no presets")
    path = Path(presets_dir) / f"{preset}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in Path(presets_dir).glob("*.yaml"))
        raise ConfigError(f"unknown preset '{preset}' (available: {', '.join(known) or 'none'})")
    return path


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level")
    return data


def _parse_set(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise ConfigError(f"--set expects KEY=VALUE, got '{item}'")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set expects KEY=VALUE, got '{item}'")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"config key '{dotted}' conflicts with another override")
        node[parts[-1]] = value
    return out


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _merge_layer(
    cls: type, merged: dict, layer: Mapping[str, Any], source: str, prefix: str = ""
) -> None:
    """Check ``layer`` against ``cls`` and deep-merge it into ``merged``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    for key, value in layer.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ConfigError(f"{source}: unknown config key '{prefix}{key}'{hint}")
        tp = _strip_optional(hints[key])
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            sub = merged.setdefault(key, {})
            if not isinstance(sub, dict):
                sub = merged[key] = {}
            _merge_layer(tp, sub, value, source, prefix=f"{prefix}{key}.")
        else:
            merged[key] = _convert(value, hints[key], f"{prefix}{key}", source)


def _build(cls: type[T], data: Mapping[str, Any], prefix: str) -> T:
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        tp = _strip_optional(hints[f.name])
        value = data[f.name]
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            value = _build(tp, value, prefix=f"{prefix}{f.name}.")
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        where = prefix.rstrip(".") or cls.__name__
        raise ConfigError(f"invalid config '{where}': {exc}") from None


def _strip_optional(tp: Any) -> Any:
    if _is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Union or isinstance(tp, types.UnionType)


def _fail(key: str, source: str, value: Any, want: str) -> ConfigError:
    return ConfigError(f"{source}: config key '{key}' expects {want}, got {value!r}")


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:  # noqa: C901 - a type switch
    """Convert ``value`` to the annotated type ``tp`` or raise a ConfigError naming ``key``."""
    if tp is Any:
        return value
    if _is_union(tp):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, key, source)
            except ConfigError:
                continue
        raise _fail(key, source, value, " or ".join(getattr(a, "__name__", str(a)) for a in args))
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value in choices:
            return value
        raise _fail(key, source, value, f"one of {list(choices)}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        raise _fail(key, source, value, f"a mapping of {tp.__name__} fields")
    if origin in (tuple, list):
        return _convert_sequence(value, tp, key, source)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _fail(key, source, value, "a mapping")
        _, vt = typing.get_args(tp) or (Any, Any)
        return {k: _convert(v, vt, f"{key}.{k}", source) for k, v in value.items()}
    return _convert_scalar(value, tp, key, source)


def _convert_sequence(value: Any, tp: Any, key: str, source: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(value, str) or not isinstance(value, Sequence):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        else:
            raise _fail(key, source, value, "a list")
    if origin is list:
        et = args[0] if args else Any
        return [_convert(v, et, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_convert(v, args[0], f"{key}[{i}]", source) for i, v in enumerate(value))
    if args and len(args) != len(value):
        raise _fail(key, source, value, f"a list of {len(args)} values")
    types_ = args or (Any,) * len(value)
    return tuple(
        _convert(v, t, f"{key}[{i}]", source) for i, (v, t) in enumerate(zip(value, types_))
    )


def _convert_scalar(value: Any, tp: Any, key: str, source: str) -> Any:  # noqa: C901 - a type switch
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _fail(key, source, value, "true or false")
    if tp is int:
        if isinstance(value, bool):
            raise _fail(key, source, value, "an integer")
        if isinstance(value, int):
            return value
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise _fail(key, source, value, "an integer") from None
        if as_float.is_integer():
            return int(as_float)
        raise _fail(key, source, value, "an integer")
    if tp is float:
        if isinstance(value, bool):
            raise _fail(key, source, value, "a number")
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise _fail(key, source, value, "a number") from None
        if math.isnan(out):
            raise _fail(key, source, value, "a number (not NaN)")
        return out
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise _fail(key, source, value, "a string")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise _fail(key, source, value, "a path")
    return value


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def check_range(
    cfg: Any,
    name: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> None:
    """Raise ``ValueError`` naming field ``name`` of ``cfg`` when it is NaN or out of range.

    Call it from a config dataclass's ``__post_init__``; :func:`load_config` turns the
    ``ValueError`` into a :class:`ConfigError` naming the section.
    """
    value = getattr(cfg, name)
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if v is None:
            continue
        bad = isinstance(v, float) and math.isnan(v)
        bad = bad or (gt is not None and not v > gt) or (ge is not None and not v >= ge)
        bad = bad or (le is not None and not v <= le) or (lt is not None and not v < lt)
        if bad:
            bounds = [
                f"{op} {b}"
                for op, b in ((">", gt), (">=", ge), ("<=", le), ("<", lt))
                if b is not None
            ]
            raise ValueError(f"'{name}' must be {' and '.join(bounds)}, got {value!r}")
