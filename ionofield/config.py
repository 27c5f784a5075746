"""Configuration of ionofield: frozen dataclasses (one docstring per field) and YAML presets.

Precedence (common.config): defaults < ``presets/<name>.yaml`` < ``--config FILE`` < CLI
options < ``--set a.b=value``. The resolved config is saved in every checkpoint and output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PRESETS_DIR = Path(__file__).parent / "presets"


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


@dataclass(frozen=True)
class DataConfig:
    """How observations become training batches."""

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
    """Every n-th block is held out (0 = no hold-out)."""


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


@dataclass(frozen=True)
class LossConfig:
    """Loss terms and weights."""

    likelihood: str = "nll"
    """'nll' (Gaussian, heteroscedastic) or 'mse' on log10 Ne."""
    w_chapman: float = 0.1
    """Weight of the Chapman vertical-curvature term."""
    w_tec_direction: float = 0.03
    """Weight of the TEC gradient-direction term (0 disables it and the ConvLSTM)."""
    w_direction_head: float = 0.1
    """Weight fitting the ConvLSTM head to the observed TEC-map gradient direction."""
    deriv_points: int = 256
    """Points of each batch on which the autograd derivative terms are evaluated."""
    curvature_max: float = 2.0
    """Bound on -d2 log10 Ne/dh2 [per (100 km)^2] before it is penalised."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation."""

    steps: int = 1500
    """Optimizer steps."""
    batch_size: int = 1024
    """Observations per batch (per process)."""
    lr: float = 1e-3
    """Adam learning rate (cosine decay to 5%)."""
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
    dtype: str = "float32"
    """float32 or float64."""


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation and prediction."""

    batch_size: int = 8192
    """Points per evaluation batch."""
    cache_size: int = 48
    """Hourly TEC contexts kept by the LRU cache."""
    use_cache: bool = True
    """Use the hourly TEC-context cache."""


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
