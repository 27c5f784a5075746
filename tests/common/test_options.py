"""The shared --threads option: set before any subcommand runs, validated, env-overridable."""

from __future__ import annotations

import click
import torch
from click.testing import CliRunner

from common.options import threads_option


def _group(**kw) -> click.Group:
    seen: dict[str, int] = {}

    @click.group()
    @threads_option(**kw)
    def cli() -> None:
        """Test group."""

    @cli.command()
    def sub() -> None:
        seen["threads"] = torch.get_num_threads()

    cli.seen = seen  # type: ignore[attr-defined]
    return cli


def test_threads_option_sets_torch_before_the_subcommand() -> None:
    before = torch.get_num_threads()
    try:
        cli = _group(default=0)
        torch.set_num_threads(3)
        assert CliRunner().invoke(cli, ["sub"]).exit_code == 0
        assert cli.seen["threads"] == 3  # 0 keeps what torch had
        assert CliRunner().invoke(cli, ["--threads", "1", "sub"]).exit_code == 0
        assert cli.seen["threads"] == 1
        r = CliRunner().invoke(cli, ["--threads", "-1", "sub"])
        assert r.exit_code != 0 and "--threads" in r.output
    finally:
        torch.set_num_threads(before)


def test_threads_option_minimum_and_env() -> None:
    before = torch.get_num_threads()
    try:
        cli = _group(default=1, minimum=1, envvar="TOOL_THREADS")
        r = CliRunner().invoke(cli, ["--threads", "0", "sub"])
        assert r.exit_code != 0 and "--threads" in r.output
        r = CliRunner().invoke(cli, ["sub"], env={"TOOL_THREADS": "2"})
        assert r.exit_code == 0 and cli.seen["threads"] == 2
    finally:
        torch.set_num_threads(before)
