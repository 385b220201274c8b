"""The plugin's registration, its matrix config and its published rows."""

from __future__ import annotations

from pathlib import Path

from asdbench import plugins
from asdbench.leaderboard.collect import reference_frame
from asdbench.matrix.grid import load_matrix, plan
from asdbench.testing import check_options, plugin_components
from asdbench_encoders import reference

CONFIG = Path(__file__).resolve().parents[3] / "configs" / "foundation.toml"


def test_options_pass_their_schemas():
    registry = plugins.get_registry()
    components = plugin_components(registry, "encoders")
    assert {c.name for c in components} == {"beats", "eat", "pool"}
    for component in components:
        check_options(component)


def test_foundation_matrix_crosses_encoders_editions_modes_and_scorers():
    cells = plan(load_matrix(CONFIG), plugins.get_registry())
    assert len(cells) == 2 * 3 * 3 * 3
    assert not [c.error for c in cells if c.error]
    modes = {(c.overrides["frontend"], c.overrides["dataset"], c.overrides["frontend.mode"],
              c.overrides["scorer"]) for c in cells}
    assert len(modes) == 54
    assert len({c.run_id for c in cells}) == 54  # encoder and mode are part of every run id
    eat_lora = [c.overrides for c in cells
                if c.overrides["frontend"] == "eat" and c.overrides["frontend.mode"] == "lora"]
    assert eat_lora and all(o["frontend.lora_targets"] == "qkv" and o["frontend.tokens"] == "cls"
                            for o in eat_lora)


def test_published_rows_are_labelled_eval_set_official_scores():
    rows = reference.reference_results()
    assert {r["dataset"] for r in rows} == {"dcase2023", "dcase2024"}
    assert all(r["set"] == "eval" and r["protocol"] == "dcase2022" and r["source"]
               for r in rows)
    frame = reference_frame(rows)
    assert (frame["average.official"].between(0.5, 0.8)).all()
    genrep = frame[frame["source"].str.contains("GenRep")]
    assert genrep["average.official"].tolist() == [0.7379]


def test_describe_counts_the_frozen_encoder_and_what_trains():
    from asdbench.modelinfo import describe_model

    base = {"frontend": "beats", "backbone": "pool", "method": "arcface",
            "data.clip_seconds": 1.0}
    frozen = describe_model({**base, "frontend.mode": "frozen"}, plugins.get_registry(), 3)
    full = describe_model({**base, "frontend.mode": "full"}, plugins.get_registry(), 3)
    assert frozen["params"] == full["params"] > frozen["trained_params"] > 0
    assert full["trained_params"] == full["params"]
    # frozen: the encoder runs once per clip (cached features); full: in every forward
    assert frozen["feature_flops_per_clip"] > full["feature_flops_per_clip"]
    assert full["flops_per_clip"] > frozen["flops_per_clip"]
    assert full["train_memory_bytes"] > frozen["train_memory_bytes"] > 0
