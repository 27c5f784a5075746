"""The backbone names live in one place (fcpredict.backbone_names): the loader table, the
config choices and the CLI choice are all derived from it and must agree with it."""

from __future__ import annotations

import typing

import pytest

from common.config import ConfigError
from fcpredict.api import load_config
from fcpredict.backbone_names import BACKBONE_NAMES


def test_loader_table_has_exactly_the_backbone_names() -> None:
    from fcpredict.backbones import _SPEC, BACKBONES

    assert BACKBONES == BACKBONE_NAMES
    assert list(_SPEC) == list(BACKBONE_NAMES), "fcpredict.backbones._SPEC and the names differ"
    assert len(set(BACKBONE_NAMES)) == len(BACKBONE_NAMES)


def test_configs_and_cli_offer_the_backbone_names() -> None:
    from fcpredict.cli import _BACKBONES
    from fcpredict.config import ModelConfig
    from fcpredict.finetune import FinetuneConfig

    kind = typing.get_type_hints(ModelConfig)["kind"]
    assert typing.get_args(kind) == ("equiformer", "transformer", *BACKBONE_NAMES)
    assert typing.get_args(typing.get_type_hints(FinetuneConfig)["backbone"]) == BACKBONE_NAMES
    assert tuple(_BACKBONES.choices) == BACKBONE_NAMES


@pytest.mark.parametrize("kind", ["equiformer", "transformer", *BACKBONE_NAMES])
def test_load_config_accepts_every_model_kind(kind: str) -> None:
    cfg = load_config("tiny", overrides={"model.kind": kind})
    assert cfg.model.kind == kind


def test_load_config_refuses_an_unknown_kind_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="model.kind"):
        load_config("tiny", overrides={"model.kind": "sevennet-1"})
