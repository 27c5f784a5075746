"""Helpers shared by the ionofield tests."""

from __future__ import annotations


def train_args(scenario, run_dir, iri_cache, *extra: str) -> list[str]:
    """`ionofield train` arguments on the tiny preset."""
    return [
        "train",
        "--scenario",
        str(scenario),
        "--preset",
        "tiny",
        "--run-dir",
        str(run_dir),
        "--device",
        "cpu",
        "--set",
        f"iri.cache_dir={iri_cache}",
        *extra,
    ]
