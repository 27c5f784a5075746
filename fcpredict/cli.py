"""Command-line interface of fcpredict (a Click group)."""

from __future__ import annotations

import click

from fcpredict import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fcpredict")
def cli() -> None:
    """Force constants as exact second derivatives of an equivariant graph-network energy."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="fcpredict")
