"""Click options shared by every tool's commands, defined once."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from common.config import ConfigError
from common.errors import UserError

F = Callable[..., Any]


def device_option(f: F) -> F:
    """``--device auto|cpu|cuda|cuda:N``."""
    return click.option(
        "--device",
        default="auto",
        show_default=True,
        help="Where to compute: auto (CUDA if present, else CPU), cpu, cuda or cuda:N.",
    )(f)


def dtype_option(f: F) -> F:
    """``--dtype float32|float64`` (None = the tool's default)."""
    return click.option(
        "--dtype",
        type=click.Choice(["float32", "float64"]),
        default=None,
        help="Floating-point precision (default: the config's).",
    )(f)


def seed_option(f: F) -> F:
    """``--seed N`` (None = the config's seed)."""
    return click.option(
        "--seed",
        type=click.IntRange(0),
        default=None,
        help="Random seed, >= 0 (default: the config's seed).",
    )(f)


def fixed_seed_option(text: str, default: int = 0) -> Callable[[F], F]:
    """``--seed N`` with a fixed default, for commands without a config to take it from."""
    return click.option(
        "--seed", type=click.IntRange(0), default=default, show_default=True, help=text
    )


def config_options(f: F) -> F:
    """``--preset NAME``, ``--config FILE``, ``--set key=value`` (repeatable)."""
    f = click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override one config value, e.g. --set train.lr=3e-4 (repeatable; wins over all).",
    )(f)
    f = click.option(
        "--config",
        "config_file",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="YAML file of config values (overrides the preset).",
    )(f)
    return click.option(
        "--preset", default=None, help="Named preset (see the tool's presets/ folder)."
    )(f)


def run_options(f: F) -> F:
    """``--run-dir PATH`` and ``--resume``."""
    f = click.option(
        "--resume",
        is_flag=True,
        help="Continue from RUN_DIR/checkpoints/last.pt (exactly where it stopped).",
    )(f)
    return click.option(
        "--run-dir",
        type=click.Path(file_okay=False),
        required=True,
        help="Directory for config.yaml, metrics.jsonl, logs and checkpoints/.",
    )(f)


def threads_option(
    default: int = 0, minimum: int = 0, envvar: str | None = None, note: str = ""
) -> Callable[[F], F]:
    """``--threads N`` for a tool's command group: sets torch's intra-op CPU threads as soon
    as it is parsed (before any subcommand runs); 0 keeps torch's default.
    """

    def _apply(ctx: click.Context, param: click.Parameter, value: int) -> int:
        # Importing torch here would make every subcommand's --help slow: set the OpenMP
        # variable torch reads at import, or torch itself when it is already imported.
        if value > 0:
            os.environ["OMP_NUM_THREADS"] = str(value)
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(value)
        return value

    env = f" (env {envvar})" if envvar else ""
    zero = " 0 keeps torch's default." if minimum == 0 else ""
    text = f"Torch CPU threads{env}.{zero} {note or 'On a busy machine 1 is often fastest.'}"

    def deco(f: F) -> F:
        return click.option(
            "--threads",
            type=click.IntRange(minimum),
            default=default,
            show_default=True,
            envvar=envvar,
            expose_value=False,
            callback=_apply,
            help=text,
        )(f)

    return deco


class UserErrorGroup(click.Group):
    """A Click group that shows a library's :class:`UserError` as one line, exit 1 (2 for a
    config error, like any usage error), never a traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, translating user errors."""
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.UsageError(str(exc), ctx=ctx) from None
        except UserError as exc:
            raise click.ClickException(str(exc)) from None


def allow_config_change_option(f: F) -> F:
    """``--allow-config-change``: with ``--resume``, accept a changed model/data config."""
    return click.option(
        "--allow-config-change",
        is_flag=True,
        help="With --resume: accept a model/data config that differs from the checkpoint's.",
    )(f)
