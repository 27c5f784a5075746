"""Command-line interface of physx4dct (a Click group)."""

from __future__ import annotations

import click

from physx4dct import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="physx4dct")
def cli() -> None:
    """4D respiratory CT from cone-beam projections with radiative Gaussian splatting."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="physx4dct")
