"""Recipes: a method's named presets resolve to their documented settings, what the user sets
wins, the run id tells presets apart, and ``common`` changes nothing."""

from __future__ import annotations

import pytest
from asdbench_osscl.recipes import NOT_EXPRESSIBLE, RECIPES, STGRAM_MFN_LOGMEL, recipes_of

from asdbench.config import resolve
from asdbench.plugins import get_registry, load_plugins
from asdbench.registry import AsdbenchError


@pytest.fixture(scope="module")
def registry():
    """A registry of its own whose methods carry the OS-SCL plugin's recipes (attached here:
    the process-wide one is left untouched)."""
    reg = load_plugins().registry
    for method in RECIPES:
        reg.get("method", method).recipes = recipes_of(method)
    return reg


def test_each_authors_preset_resolves_to_its_documented_settings(registry):
    stgram = resolve({"method": "arcface", "frontend": "stgram", "recipe": "authors"}, registry)
    assert stgram["recipe"] == "authors"
    assert (stgram.train.weight_decay, stgram.train.batch_size,
            stgram.train.live_weight_decay) == (0.0, 128, 0.0)
    assert {k: stgram[k] for k in STGRAM_MFN_LOGMEL} == STGRAM_MFN_LOGMEL
    assert (stgram["frontend.pad_mode"], stgram["frontend.norm"],
            stgram["frontend.mel_scale"]) == ("reflect", "none", "htk")
    osscl = resolve({"method": "os-scl", "recipe": "authors"}, registry)
    assert osscl.train.amp is False  # fp32, also on CUDA
    common = resolve({"method": "os-scl"}, registry)
    assert common.train.amp == "auto" and common["recipe"] == "common"
    # everything a preset does not set stays the common recipe's
    assert {k: v for k, v in osscl.items() if k not in ("recipe", "train.amp")} == \
        {k: v for k, v in common.items() if k not in ("recipe", "train.amp")}
    assert set(NOT_EXPRESSIBLE) == set(RECIPES)


def test_presets_differ_in_run_id_and_common_keeps_the_old_ids(registry):
    base = {"method": "arcface", "frontend": "stgram"}
    common = resolve(base, registry)
    assert resolve({**base, "recipe": "common"}, registry).run_id == common.run_id
    assert common.run_id == resolve(base, get_registry()).run_id  # as without recipes at all
    authors = resolve({**base, "recipe": "authors"}, registry)
    assert authors.run_id != common.run_id
    # the name is identity too: the same values under another name are another run
    assert resolve(authors.to_flat(), registry) == authors
    renamed = {**RECIPES["arcface"]["authors"], **base}
    assert resolve(renamed, registry).run_id != authors.run_id


def test_user_settings_win_over_the_preset_and_the_preset_over_dataset_defaults(registry):
    cfg = resolve({"method": "arcface", "frontend": "stgram", "recipe": "authors",
                   "train.batch_size": 16}, registry)
    assert cfg.train.batch_size == 16 and cfg.train.weight_decay == 0.0
    # synthetic's train_defaults set batch 32; the recipe's 128 wins over it
    assert resolve({"method": "arcface", "recipe": "authors"}, registry).train.batch_size == 128
    assert resolve({"method": "arcface"}, registry).train.batch_size == 32


def test_unknown_recipes_and_bad_presets_fail_with_one_line_errors(registry):
    with pytest.raises(AsdbenchError, match="method 'arcmix' has no recipe 'authors'; "
                                            "recipes: common"):
        resolve({"method": "arcmix", "recipe": "authors"}, registry)
    with pytest.raises(AsdbenchError, match="method 'os-scl' has no recipe 'paper'; "
                                            "recipes: common, authors"):
        resolve({"recipe": "paper"}, registry)
    with pytest.raises(AsdbenchError, match="recipe must be a name"):
        resolve({"recipe": 3}, registry)
    reg = load_plugins().registry
    reg.get("method", "supcon").recipes = {"bad": {"method": "arcface"}}
    with pytest.raises(AsdbenchError, match="sets 'method': a recipe sets train.* and component"):
        resolve({"method": "supcon", "recipe": "bad"}, reg)
    cfg = resolve({}, registry)
    with pytest.raises(AsdbenchError, match="'recipe' is checked by its component"):
        cfg.replace(recipe="authors")


def test_shipped_methods_bring_their_authors_recipe():
    from asdbench.plugins import get_registry

    registry = get_registry()
    common = resolve({"method": "arcface", "frontend": "stgram"}, registry)
    authors = resolve({"method": "arcface", "frontend": "stgram", "recipe": "authors"},
                      registry)
    assert authors.run_id != common.run_id and authors["recipe"] == "authors"
    assert (authors["train.batch_size"], authors["train.weight_decay"]) == (128, 0.0)
    assert authors["frontend.mel_scale"] == "htk" and authors["frontend.n_fft"] == 1024
    osscl = resolve({"method": "os-scl", "recipe": "authors"}, registry)
    assert osscl["train.amp"] is False  # the OS-SCL authors train in fp32
    # what the user sets wins over the preset
    mine = resolve({"method": "os-scl", "recipe": "authors", "train.amp": "bf16"}, registry)
    assert mine["train.amp"] == "bf16"
