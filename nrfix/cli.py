"""Command-line interface of nrfix (a Click group)."""

from __future__ import annotations

import click

from nrfix import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nrfix")
def cli() -> None:
    """Correct numerical-relativity initial data with a learned, constraint-trained 3D CNN."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="nrfix")
