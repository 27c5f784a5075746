"""Command-line interface of ionofield (a Click group)."""

from __future__ import annotations

import click

from ionofield import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ionofield")
def cli() -> None:
    """Reconstruct ionospheric electron density: IRI background plus a learned SIREN residual."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ionofield")
