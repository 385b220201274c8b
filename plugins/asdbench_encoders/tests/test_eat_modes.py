"""EAT through the engine: one-line checkpoint errors, the three training modes (LoRA on
``qkv``, as ASDKit), the contract kit, and a tiny EAT end to end on the synthetic set."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from asdbench import plugins
from asdbench.config import resolve
from asdbench.registry import Registry
from asdbench.run.pipeline import train_and_evaluate
from asdbench.sdk import AsdbenchError, AudioSpec
from asdbench.testing import TINY_RUN, check_training_step, installed_registry
from asdbench_encoders import eat, frontends, weights
from asdbench_encoders.frontends import beats_frontend, eat_frontend
from asdbench_encoders.options import BEATS_OPTIONS, EAT_OPTIONS
from asdbench_encoders.tests.test_eat_faithful import official_state

AUDIO = AudioSpec(sample_rate=16000, clip_seconds=1.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny EAT checkpoint in the official layout (seeded weights)."""
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    torch.save({"model": official_state(eat.ARCHS["tiny"], 3), "cfg": eat.ARCHS["tiny"]}, path)
    return path


def _one_line_error(factory, defaults, **options) -> str:
    with pytest.raises(AsdbenchError) as err:
        factory({**{k: v.default for k, v in defaults.items()}, **options}, AUDIO)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_a_missing_published_eat_checkpoint_prints_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.ENV_WEIGHTS, str(tmp_path))
    message = _one_line_error(eat_frontend, EAT_OPTIONS, checkpoint="eat-base-e30-pt")
    assert f"asdbench weights fetch eat-base-e30-pt --to {tmp_path}" in message


def test_another_architecture_names_the_mismatching_keys(tmp_path, checkpoint):
    state = torch.load(checkpoint, weights_only=True)["model"]
    deeper = tmp_path / "deeper.pt"
    torch.save({"model": state, "cfg": {**eat.ARCHS["tiny"], "depth": 3}}, deeper)
    message = _one_line_error(eat_frontend, EAT_OPTIONS, checkpoint=str(deeper))
    assert "missing keys (e.g. blocks.2." in message
    beats_file = tmp_path / "beats.pt"
    torch.save({"cfg": {}, "model": {"encoder.layers.0.fc1.weight": torch.zeros(2, 2)}},
               beats_file)
    message = _one_line_error(eat_frontend, EAT_OPTIONS, checkpoint=str(beats_file))
    assert "unexpected keys (e.g. encoder.layers.0.fc1.weight)" in message


@dataclasses.dataclass
class _Config:
    """Stands for a fairseq checkpoint's omegaconf cfg: an object weights_only refuses."""

    depth: int = 12


def test_a_fairseq_checkpoint_is_refused_with_the_safetensors_hint(tmp_path, checkpoint):
    path = tmp_path / "EAT-base_epoch10_pt.pt"
    torch.save({"cfg": _Config(), "model": torch.load(checkpoint, weights_only=True)["model"]},
               path)
    message = _one_line_error(eat_frontend, EAT_OPTIONS, checkpoint=str(path))
    assert "refused" in message and "asdbench weights fetch eat-base-e30-pt" in message


def test_a_truncated_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "EAT.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    assert "not a readable safetensors file" in _one_line_error(eat_frontend, EAT_OPTIONS,
                                                                checkpoint=str(path))


def test_beats_has_no_cls_token():
    message = _one_line_error(beats_frontend, BEATS_OPTIONS, tokens="cls")
    assert "no CLS token" in message


def test_token_choices_skip_the_cls_token():
    frontend = eat_frontend({k: v.default for k, v in EAT_OPTIONS.items()}, AUDIO)
    wave = 0.1 * torch.randn(2, 16000)
    with torch.no_grad():
        tokens = frontend.encoder.tokens(frontend.encoder.preprocess(wave))  # [B, 1 + N, D]
    grid = frontend.grid
    assert tokens.shape[1] == 1 + grid[0] * grid[1]
    cls = frontends.select_tokens(tokens, grid, "cls", 1)
    assert torch.equal(cls, tokens[:, :1])
    assert torch.equal(frontends.select_tokens(tokens, grid, "all", 1), tokens[:, 1:])
    assert frontends.select_tokens(tokens, grid, "time", 1).shape[1] == grid[0]


# --- modes -----------------------------------------------------------------------------------


@pytest.fixture
def built(monkeypatch):
    made = []
    real = frontends.EncoderFrontend.__init__

    def spy(self, *args, **kwargs):
        real(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(frontends.EncoderFrontend, "__init__", spy)
    return made


def _run(tmp_path, checkpoint, **settings):
    cfg = resolve({**TINY_RUN, "frontend": "eat", "backbone": "pool", "method": "arcface",
                   "frontend.checkpoint": str(checkpoint), "frontend.tokens": "cls",
                   "train.epochs": 1, **settings},
                  plugins.get_registry())
    return train_and_evaluate(cfg, tmp_path / "results", progress=False)


def test_tiny_eat_runs_end_to_end_frozen_and_reuses_its_cached_tokens(tmp_path, checkpoint,
                                                                    built):
    saved = eat.rename(torch.load(checkpoint, weights_only=True)["model"])
    metrics, run = _run(tmp_path, checkpoint, **{"frontend.mode": "frozen", "scorer": "knn"})
    live = built[0]
    assert all(p.grad is None and not p.requires_grad for p in live.encoder.parameters())
    after = live.encoder.state_dict()
    assert all(torch.equal(saved[k], after[k]) for k in after)  # byte-identical
    assert not any(k.startswith("frontend.encoder.") for k in run.load_model())
    average = next(iter(metrics["protocols"].values()))["average"]
    assert 0.0 <= average["auc"] <= 1.0
    clips = frontends.EXTRACTED[live.feature_key]
    assert clips == metrics["config"]["data.ids_per_type"] * 2 * (16 + 12)
    _run(tmp_path, checkpoint, **{"frontend.mode": "frozen", "scorer": "mahalanobis"})
    assert frontends.EXTRACTED[live.feature_key] == clips  # the second scorer read the cache


@pytest.mark.slow
def test_lora_on_qkv_trains_only_the_adapters_and_the_head(tmp_path, checkpoint, built):
    saved = eat.rename(torch.load(checkpoint, weights_only=True)["model"])
    _, run = _run(tmp_path, checkpoint, **{"frontend.mode": "lora", "frontend.lora_rank": 4})
    live = built[0]
    after = {k: v.detach().clone() for k, v in live.encoder.state_dict().items()}
    lora = {k: v for k, v in after.items() if "lora_" in k}
    base = {k.replace(".base_layer", ""): v for k, v in after.items() if "lora_" not in k}
    assert base.keys() == saved.keys()
    assert all(torch.equal(saved[k], base[k]) for k in saved)
    assert len(lora) == 2 * eat.ARCHS["tiny"]["depth"]  # A and B of qkv in every block
    assert all(".attn.qkv.lora_" in k for k in lora)
    assert all(v.shape[0] == 4 for k, v in lora.items() if "lora_A" in k)
    assert any(v.abs().sum() > 0 for k, v in lora.items() if "lora_B" in k)
    trained = {n for n, p in live.named_parameters() if p.requires_grad}
    assert trained == {f"encoder.{k}" for k in lora}
    saved_keys = {k for k in run.load_model() if k.startswith("frontend.")}
    assert saved_keys == {f"frontend.encoder.{k}" for k in lora}


def _registry(**defaults) -> Registry:
    registry = Registry()
    for component in installed_registry():
        if component.kind == "frontend" and component.name == "eat":
            options = dict(component.options)
            for key, value in defaults.items():
                options[key] = dataclasses.replace(options[key], default=value)
            component = dataclasses.replace(component, options=options)
        registry.add(component.kind, component)
    return registry


@pytest.mark.parametrize("tokens", ["cls", "all"])
def test_contract_in_full_mode(tokens):
    """The kit's training step in mode full: every encoder weight gets a gradient (the CLS
    token too, and the patch tokens through attention)."""
    check_training_step(_registry(mode="full", tokens=tokens), ("eat", "pool", "arcface"))


def test_contract_in_frozen_mode():
    check_training_step(_registry(mode="frozen", tokens="cls"),
                        ("eat", "pool", "subcluster-adacos"))


def test_full_mode_trains_every_eat_weight_at_a_smaller_learning_rate():
    from asdbench.model import build_model
    from asdbench.run.loop import make_optimizer

    cfg = resolve({**TINY_RUN, "frontend": "eat", "backbone": "pool", "method": "arcface",
                   "frontend.mode": "full", "frontend.encoder_lr_scale": 0.1},
                  plugins.get_registry())
    model = build_model(cfg, plugins.get_registry(), AUDIO, 3)
    encoder = list(model.frontend.encoder.parameters())
    assert encoder and all(p.requires_grad for p in encoder)
    lrs = {id(p): g["lr"] for g in make_optimizer(model, cfg.train).param_groups
           for p in g["params"]}
    assert all(lrs[id(p)] == pytest.approx(cfg.train.lr * 0.1) for p in encoder)
    assert lrs[id(model.method.weight)] == cfg.train.lr


def test_describe_gives_eat_base_its_published_size():
    from asdbench.modelinfo import describe_model

    cfg = {"frontend": "eat", "backbone": "pool", "method": "arcface", "frontend.arch": "base",
           "frontend.mode": "frozen", "frontend.tokens": "cls", "backbone.embedding_dim": 256,
           "data.clip_seconds": 1.0}
    info = describe_model(cfg, plugins.get_registry(), 3)
    encoder = info["params"] - info["trained_params"]
    # patches 16·16·768 + 768, CLS 768, pre-norm 2·768, 12 blocks of 7 087 872
    assert encoder == 197_376 + 768 + 1_536 + 12 * 7_087_872
    assert info["trained_params"] == 768 * 256 + 256 + 3 * 256  # projection, ArcFace


def test_option_defaults_follow_asdkit():
    assert EAT_OPTIONS["lora_targets"].default == "qkv"
    assert EAT_OPTIONS["lora_rank"].default == 64


# --- fetching ----------------------------------------------------------------------------------


def test_fetch_downloads_an_eat_safetensors_file_that_then_loads(tmp_path, server, monkeypatch):
    import hashlib
    import json

    from click.testing import CliRunner
    from safetensors.torch import save_file

    from asdbench_encoders import commands
    from asdbench_encoders.tests.test_eat_faithful import hf_names

    folder, base = server
    save_file(hf_names(official_state(eat.ARCHS["tiny"], 3)), str(folder / "model.safetensors"),
              metadata={"cfg": json.dumps(eat.ARCHS["tiny"])})
    data = (folder / "model.safetensors").read_bytes()
    entry = weights.Weight("eat-test", "eat", "EAT-test.safetensors", base + "model.safetensors",
                           "test", size=len(data), md5=hashlib.md5(data).hexdigest())
    monkeypatch.setattr(weights, "CATALOGUE", {"eat-test": entry})
    monkeypatch.setenv(weights.ENV_WEIGHTS, str(tmp_path / "w"))
    result = CliRunner().invoke(commands.command, ["fetch", "eat-test"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "w" / "EAT-test.safetensors").read_bytes() == data
    frontend = eat_frontend({**{k: v.default for k, v in EAT_OPTIONS.items()},
                             "checkpoint": "eat-test"}, AUDIO)  # found by its name
    assert frontend.encoder.depth == eat.ARCHS["tiny"]["depth"]


def test_drop_path_rises_over_the_blocks_and_acts_only_in_training():
    frontend = eat_frontend({**{k: v.default for k, v in EAT_OPTIONS.items()},
                             "mode": "full", "drop_path": 0.5}, AUDIO)
    encoder = frontend.encoder
    assert [b.drop_path.rate for b in encoder.blocks] == [0.0, 0.5]
    fbank = encoder.preprocess(0.1 * torch.randn(8, 16000))
    torch.manual_seed(0)
    with torch.no_grad():
        encoder.train()
        assert not torch.equal(encoder.tokens(fbank), encoder.tokens(fbank))
        encoder.eval()
        assert torch.equal(encoder.tokens(fbank), encoder.tokens(fbank))
