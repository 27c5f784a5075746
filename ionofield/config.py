"""Configuration of ionofield: frozen dataclasses (one docstring per field) and YAML presets.

Precedence (common.config): defaults < ``presets/<name>.yaml`` < ``--config FILE`` < CLI
options < ``--set a.b=value``. The resolved config is saved in every checkpoint and output.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from common.config import check_range

PRESETS_DIR = Path(__file__).parent / "presets"


def _positive(cfg: object, *names: str) -> None:
    for name in names:
        check_range(cfg, name, gt=0)


def _non_negative(cfg: object, *names: str) -> None:
    for name in names:
        check_range(cfg, name, ge=0)


def _above(cfg: object, name: str, other: str) -> None:
    """``name`` must exceed field ``other`` (e.g. a top altitude above the bottom one)."""
    value, floor = getattr(cfg, name), getattr(cfg, other)
    if not value > floor:
        raise ValueError(f"'{name}' must be > {other} ({floor}), got {value!r}")


@dataclass(frozen=True)
class IRIConfig:
    """Grid of the cached daily IRI cube."""

    dlat_deg: float = 2.5
    """Latitude step of the cube [deg] (grid -90..90)."""
    dlon_deg: float = 5.0
    """Longitude step of the cube [deg] (grid -180..180, periodic)."""
    alt_min_km: float = 80.0
    """Lowest cube altitude [km]."""
    alt_max_km: float = 1000.0
    """Highest cube altitude [km] (points above are clamped)."""
    dalt_km: float = 20.0
    """Altitude step of the cube [km]."""
    memory_days: int = 4
    """Day cubes kept in memory."""
    cache_dir: str = ""
    """Disk cache folder; empty = $IONOFIELD_CACHE or ~/.cache/ionofield/iri."""

    def __post_init__(self) -> None:
        _positive(self, "dlat_deg", "dlon_deg", "dalt_km", "memory_days")
        for name, span in (("dlat_deg", 180.0), ("dlon_deg", 360.0)):
            n = span / getattr(self, name)
            if abs(n - round(n)) > 1e-9 or n < 2:
                raise ValueError(
                    f"'{name}' must divide {span:g} deg at least twice, got {getattr(self, name)!r}"
                )
        _non_negative(self, "alt_min_km")
        _above(self, "alt_max_km", "alt_min_km")


@dataclass(frozen=True)
class SimConfig:
    """The simulated scenario (truth = IRI + storm + TIDs + day-to-day variability)."""

    start: str = "2015-03-16"
    """First UTC day (ISO); the default covers the quiet day before the St Patrick's Day storm."""
    days: int = 2
    """Number of simulated days."""
    insitu_cadence_s: float = 60.0
    """In-situ sampling interval along the orbit [s]."""
    orbit_alt_km: float = 836.0
    """Altitude of the FY-3D-like sun-synchronous orbit [km]."""
    inclination_deg: float = 98.75
    """Orbit inclination [deg]."""
    period_min: float = 101.5
    """Orbital period [min]."""
    node_lt_h: float = 14.0
    """Local time of the ascending node [h]."""
    ro_per_day: int = 300
    """Radio-occultation profiles per day."""
    ro_alt_min_km: float = 100.0
    """Lowest RO altitude [km]."""
    ro_alt_max_km: float = 800.0
    """Highest RO altitude [km]."""
    ro_dalt_km: float = 10.0
    """RO vertical sampling [km]."""
    noise_insitu: float = 0.04
    """Gaussian noise of in-situ log10 Ne."""
    noise_ro: float = 0.06
    """Gaussian noise of RO log10 Ne."""
    variability: float = 0.25
    """Amplitude of quiet day-to-day NmF2 variability (fraction)."""
    storm_positive: float = 0.45
    """Mid-latitude dayside positive storm phase (fraction of NmF2 at full storm)."""
    storm_negative: float = 0.55
    """High-latitude negative storm phase (fraction of NmF2 at full storm)."""
    hm_uplift_km: float = 40.0
    """hmF2 uplift at full storm [km]."""
    tid_amplitude: float = 0.06
    """Travelling-disturbance NmF2 amplitude (fraction, grows with the storm)."""
    tid_wavelength_km: float = 1500.0
    """Meridional wavelength of the large-scale TID [km]."""
    tid_period_h: float = 1.5
    """Period of the TID [h]."""
    chapman_scale_km: float = 60.0
    """Scale height of the Chapman perturbation layer [km]."""
    tec_dalt_km: float = 10.0
    """Vertical step of the TEC integration [km]."""
    storm_kp: float = 5.0
    """Kp at or above which an hour counts as 'storm' in reports."""
    seed: int = 0
    """Random seed of sampling and noise."""

    def __post_init__(self) -> None:
        try:
            dt.date.fromisoformat(self.start)
        except ValueError:
            raise ValueError(
                f"'start' must be an ISO date YYYY-MM-DD, got {self.start!r}"
            ) from None
        _positive(self, "days", "insitu_cadence_s", "orbit_alt_km", "period_min", "ro_dalt_km")
        _positive(self, "tid_wavelength_km", "tid_period_h", "chapman_scale_km", "tec_dalt_km")
        _non_negative(self, "ro_per_day", "ro_alt_min_km", "noise_insitu", "noise_ro")
        _non_negative(self, "variability", "storm_positive", "tid_amplitude", "seed")
        _above(self, "ro_alt_max_km", "ro_alt_min_km")
        check_range(self, "inclination_deg", ge=0, le=180)
        check_range(self, "node_lt_h", ge=0, lt=24)
        check_range(self, "storm_negative", ge=0, lt=1)
        check_range(self, "storm_kp", ge=0, le=9)


@dataclass(frozen=True)
class DataConfig:
    """Which scenario is trained on and how observations become training batches."""

    scenario: str = ""
    """Scenario folder read by ``fit`` (observations + tec/ IONEX maps; ``train --scenario``)."""

    seq_len: int = 6
    """Hours of Kp/F10.7 history per observation (LSTM input length)."""
    tec_seq_len: int = 4
    """Hourly TEC maps per ConvLSTM window (ending at the observation hour)."""
    bins_per_batch: int = 4
    """Time bins (hours) a batch is drawn from (unique TEC windows per batch)."""
    tec_stride: int = 2
    """Take every n-th row/column of the 71 x 73 maps for the ConvLSTM (2 -> 36 x 37, exact
    end rows/columns kept)."""
    holdout_block_h: int = 3
    """Length of a held-out time block [h]."""
    holdout_every: int = 4
    """Every n-th block is held out (0 = no hold-out; 1 would hold out everything)."""

    def __post_init__(self) -> None:
        _positive(self, "seq_len", "tec_seq_len", "bins_per_batch", "tec_stride")
        _positive(self, "holdout_block_h")
        _non_negative(self, "holdout_every")
        if self.holdout_every == 1:
            raise ValueError("'holdout_every' must be 0 (no hold-out) or >= 2, got 1")


@dataclass(frozen=True)
class ModelConfig:
    """R-STMRF network sizes."""

    spatial_hidden: int = 128
    """Width of the spatial SIREN."""
    spatial_layers: int = 3
    """Hidden layers of the spatial SIREN."""
    temporal_hidden: int = 64
    """Width of the temporal SIREN."""
    temporal_layers: int = 2
    """Hidden layers of the temporal SIREN."""
    lstm_hidden: int = 32
    """Hidden size of the Kp/F10.7 LSTM."""
    decoder_hidden: int = 128
    """Width of the fusion decoder."""
    omega0: float = 10.0
    """SIREN first-layer frequency."""
    conv_channels: int = 16
    """ConvLSTM channels (1 layer)."""
    hmf2_input: bool = True
    """Also feed the height above the IRI F2 peak, (alt - hmF2_IRI) / 100 km, to the spatial
    SIREN (storm changes of the bottomside are sharp functions of it)."""

    def __post_init__(self) -> None:
        _positive(self, "spatial_hidden", "spatial_layers", "temporal_hidden", "temporal_layers")
        _positive(self, "lstm_hidden", "decoder_hidden", "omega0", "conv_channels")


@dataclass(frozen=True)
class LossConfig:
    """Loss terms and weights."""

    likelihood: Literal["nll", "mse"] = "nll"
    """'nll' (Gaussian, heteroscedastic) or 'mse' on log10 Ne."""
    w_chapman: float = 0.1
    """Weight of the Chapman vertical-curvature term."""
    w_tec_direction: float = 0.03
    """Weight of the TEC gradient-direction term (0 disables it and the ConvLSTM)."""
    w_direction_head: float = 0.1
    """Weight fitting the ConvLSTM head to the observed TEC-map gradient direction."""
    curvature_max: float = 2.0
    """Bound on -d2 log10 Ne/dh2 [per (100 km)^2] before it is penalised."""

    def __post_init__(self) -> None:
        _non_negative(self, "w_chapman", "w_tec_direction", "w_direction_head")
        _positive(self, "curvature_max")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation."""

    steps: int = 1500
    """Optimizer steps."""
    batch_size: int = 1024
    """Observations per batch (per process)."""
    lr: float = 1e-3
    """AdamW peak learning rate."""
    warmup_steps: int = 0
    """Linear warm-up steps before the cosine decay (common.schedule.warmup_cosine)."""
    lr_floor: float = 0.05
    """Learning rate at the end of the cosine decay, as a fraction of ``lr``."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    grad_clip: float = 1.0
    """Gradient-norm clip."""
    stop_at: int = 0
    """Stop after this step in this invocation, saving last.pt (0 = never; for chunked jobs)."""
    eval_every: int = 250
    """Validate on held-out observations every n steps (best.pt)."""
    ckpt_every: int = 250
    """Write last.pt every n steps."""
    log_every_s: float = 10.0
    """Seconds between progress lines."""
    seed: int = 0
    """Seed of model init and batch order."""
    dtype: Literal["float32", "float64"] = "float32"
    """Floating-point precision of the data and the network."""

    def __post_init__(self) -> None:
        _positive(self, "steps", "batch_size", "lr", "grad_clip", "eval_every", "ckpt_every")
        _non_negative(self, "weight_decay", "warmup_steps", "stop_at", "log_every_s", "seed")
        check_range(self, "lr_floor", ge=0, le=1)


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation and prediction."""

    batch_size: int = 8192
    """Points per evaluation batch."""

    def __post_init__(self) -> None:
        _positive(self, "batch_size")


@dataclass(frozen=True)
class IonofieldConfig:
    """Everything a run needs."""

    iri: IRIConfig = field(default_factory=IRIConfig)
    """IRI background grid."""
    sim: SimConfig = field(default_factory=SimConfig)
    """Scenario generator."""
    data: DataConfig = field(default_factory=DataConfig)
    """Batching."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Network."""
    loss: LossConfig = field(default_factory=LossConfig)
    """Losses."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Optimisation."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Evaluation."""


def load(
    preset: str | None = None,
    config_file: str | None = None,
    overrides: dict | None = None,
    sets: tuple[str, ...] = (),
) -> IonofieldConfig:
    """Resolve an :class:`IonofieldConfig` from preset, file, options and ``--set`` items."""
    from common.config import load_config

    return load_config(
        IonofieldConfig,
        preset=preset,
        presets_dir=PRESETS_DIR,
        config_file=config_file,
        overrides=overrides,
        sets=sets,
    )
