"""Shapes, sizes, costs and options of the OS-SCL model zoo (frontends, MobileFaceNet, heads)."""

from __future__ import annotations

import math

import pytest
import torch
import torchaudio
from asdbench_osscl import frontends
from asdbench_osscl.backbones import MobileFaceNet, final_map_size

from asdbench.data import AudioSpec
from asdbench.modelinfo import describe_model
from asdbench.plugins import load_plugins
from asdbench.registry import AsdbenchError
from asdbench.sdk import FrontendInfo

TEN_S = AudioSpec(16000, 10.0)
CHANNELS = {"logmel": 1, "stgram": 2, "tfstgram": 3, "tastgram": 3}


@pytest.fixture(scope="module")
def registry():
    return load_plugins().registry


def _frontend(registry, name, audio=TEN_S, **options):
    return registry.create("frontend", name, options, audio=audio)


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_frontend_output_is_c_by_128_by_313_for_10_s(registry, name):
    frontend = _frontend(registry, name).eval()
    assert frontend.out_shape == (CHANNELS[name], 128, 313)
    wave = torch.randn(1, TEN_S.num_samples)
    feats = frontend.features(wave)
    assert feats.shape == (1, 128, 313)
    with torch.no_grad():
        out = frontend(wave, feats)
    assert out.shape == (1, *frontend.out_shape)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("seconds", "frames"), [(1.0, 32), (2.0, 63), (4.0, 126)])
def test_sizes_follow_the_clip_length(registry, seconds, frames):
    audio = AudioSpec(16000, seconds)
    frontend = _frontend(registry, "tfstgram", audio)
    assert frontend.out_shape == (3, 128, frames)
    assert frontend.tgram.conv_encoder[0][0].normalized_shape == (frames,)
    wave = torch.randn(2, audio.num_samples)
    with torch.no_grad():
        assert frontend(wave, frontend.features(wave)).shape == (2, 3, 128, frames)


def test_logmel_is_the_authors_transform(registry):
    frontend = _frontend(registry, "logmel", AudioSpec(16000, 1.0))
    wave = torch.randn(2, 16000)
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=16000, n_fft=2048, win_length=2048, hop_length=512, n_mels=128, power=2.0,
        pad_mode="constant", norm="slaney", mel_scale="slaney")
    expected = torchaudio.transforms.AmplitudeToDB(stype="power")(mel(wave))
    torch.testing.assert_close(frontend.features(wave), expected)
    assert sum(p.numel() for p in frontend.parameters()) == 0


def test_feature_key_tracks_feature_options(registry):
    audio = AudioSpec(16000, 1.0)
    base = _frontend(registry, "logmel", audio).feature_key
    assert _frontend(registry, "tfstgram", audio).feature_key == base  # same log-Mel, same cache
    assert _frontend(registry, "logmel", audio, n_mels=64).feature_key != base
    assert _frontend(registry, "logmel", AudioSpec(16000, 2.0)).feature_key != base


def test_channel_orders_and_tagram(registry):
    audio = AudioSpec(16000, 1.0)
    wave = torch.randn(2, audio.num_samples)
    with torch.no_grad():
        st = _frontend(registry, "stgram", audio).eval()
        feats = st.features(wave)
        assert torch.equal(st(wave, feats)[:, 0], feats)
        torch.testing.assert_close(st(wave, feats)[:, 1], st.tgram(wave))
        tfst = _frontend(registry, "tfstgram", audio).eval()
        out = tfst(wave, feats)
        assert torch.equal(out[:, 0], feats)
        torch.testing.assert_close(out[:, 2], tfst.tfgram(wave))
        tast = _frontend(registry, "tastgram", audio).eval()
        out = tast(wave, feats)
        torch.testing.assert_close(out[:, 0], tast.tgram(wave))
        assert torch.equal(out[:, 1], feats)
    # TAgram: one sigmoid weight per frame from the max and mean over frequency
    b, t = 1, 7
    weight = torch.sigmoid(feats[b, :, t].max() + feats[b, :, t].mean())
    torch.testing.assert_close(out[b, 2, :, t], feats[b, :, t] * weight)


def test_frontend_parameter_counts(registry):
    # Tgram: 128·1024 + 3·(2·313 + 128·128·3); TFgram: 64·11 + 2·64 + blocks (Table I)
    tfst = _frontend(registry, "tfstgram")
    assert sum(p.numel() for p in tfst.tgram.parameters()) == 128 * 1024 + 3 * (2 * 313 + 128 * 128 * 3)
    blocks = (64 * 64 * 3 * 2 + 4 * 64) + (64 * 128 * 3 + 128 * 128 * 3 + 4 * 128) + (
        128 * 128 * 3 * 2 + 4 * 128)
    assert sum(p.numel() for p in tfst.tfgram.parameters()) == 64 * 11 + 2 * 64 + blocks


def test_frontend_option_errors(registry):
    # 16384 samples = 32 hops exactly: an odd Tgram window then loses the last frame
    with pytest.raises(AsdbenchError, match="tgram_win_length"):
        _frontend(registry, "stgram", AudioSpec(16000, 1.024), tgram_win_length=1023)
    assert _frontend(registry, "stgram", AudioSpec(16000, 1.024)).out_shape == (2, 128, 33)
    with pytest.raises(AsdbenchError, match="frontend.hop_length"):
        _frontend(registry, "logmel", hop_length=0)


def test_backbone_map_is_8_by_20_before_the_last_depthwise():
    net = MobileFaceNet((3, 128, 313)).eval()
    assert net.embedding_dim == 128
    assert final_map_size(128, 313) == (8, 20)
    assert net.linear7.conv.kernel_size == (8, 20) and net.linear7.conv.groups == 512
    seen = {}
    net.linear7.register_forward_hook(lambda m, args, out: seen.update(x=args[0].shape, y=out.shape))
    with torch.no_grad():
        z = net(torch.randn(1, 3, 128, 313))
    assert seen["x"] == (1, 512, 8, 20) and seen["y"] == (1, 512, 1, 1)
    assert z.shape == (1, 128)


def test_backbone_init():
    torch.manual_seed(0)
    net = MobileFaceNet((1, 128, 313))
    w = net.conv2.conv.weight  # 1×1 conv, 512 out: std sqrt(2/512)
    assert w.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.05)
    w = net.blocks[0].conv[0].weight  # 1×1, 128 out
    assert w.std().item() == pytest.approx(math.sqrt(2 / 128), rel=0.1)
    assert torch.all(net.conv1.bn.weight == 1) and torch.all(net.conv1.bn.bias == 0)
    assert net.linear7.prelu is None and net.conv1.prelu is not None


def test_params_match_the_paper(registry):
    cfg = {"backbone": "mobilefacenet", "method": "os-scl"}
    tfst = describe_model({**cfg, "frontend": "tfstgram"}, registry, count_flops=False)
    assert tfst["num_classes"] == 41
    assert abs(tfst["params"] - 1.38e6) / 1.38e6 < 0.01
    assert tfst["params"] == 1_372_246  # the authors' code without its unused classifier
    logmel = describe_model({**cfg, "frontend": "logmel"}, registry, count_flops=False)
    assert abs(logmel["params"] - 0.88e6) / 0.88e6 < 0.015
    assert logmel["params"] == 891_968
    parts = tfst["params_by_part"]
    assert parts["frontend"] + parts["backbone"] + parts["method"] == tfst["params"]
    assert parts["method"] == 41 * 128 + parts["method.fph"]


def test_flops_match_the_reference(registry):
    info = describe_model({"frontend": "tfstgram", "backbone": "mobilefacenet",
                           "method": "os-scl"}, registry)
    assert abs(info["flops_per_clip"] - 4.50e9) / 4.50e9 < 0.05
    parts = info["flops_by_part"]
    for key, expected in [("frontend.tfgram", 2.92e9), ("backbone", 1.41e9),
                          ("frontend.tgram", 0.17e9)]:
        assert abs(parts[key] - expected) / expected < 0.05, key
    assert info["input_shape"] == [3, 128, 313] and info["num_samples"] == 160000


def test_describe_model_reads_the_audio_spec(registry):
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    info = describe_model({"frontend": "logmel", "method": "arcface", "data.sample_rate": 16000,
                           "data.clip_seconds": 2.0}, registry, num_classes=7)
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's stream is untouched
    assert info["input_shape"] == [1, 128, 63] and info["num_samples"] == 32000
    assert info["params_by_part"]["method"] == 7 * 128
    assert info["flops_per_clip"] == sum(info["flops_by_part"][p]
                                         for p in ("frontend", "backbone", "method"))


def _method(name: str, frontend: str, **options):
    """Method ``name`` built for what the shipped ``frontend`` declares (shape, traits)."""
    registry = load_plugins().registry
    info = FrontendInfo.of(_frontend(registry, frontend, AudioSpec(16000, 1.0)))
    return registry.get("method", name).create(options, num_classes=5, embedding_dim=128,
                                               frontend_info=info)


def test_auto_margin_and_activation_follow_the_frontend():
    logmel = _method("os-scl", "logmel")
    assert logmel.margin == 0.7 and logmel.fph_activation == "leaky_relu"
    assert isinstance(logmel.fph.head[1], torch.nn.LeakyReLU)
    assert logmel.fph.head[1].negative_slope == 0.01
    fused = _method("os-scl", "tfstgram")
    assert fused.margin == 0.4 and fused.fph_activation == "relu"
    assert isinstance(fused.fph.head[1], torch.nn.ReLU)
    assert _method("os-scl", "logmel", margin=0.5, fph_activation="relu").margin == 0.5
    assert _method("arcface", "stgram").margin == 0.7  # STgram-MFN / Noisy-ArcMix configs
    assert _method("os-scl", "logmel").scale == 30.0
    assert _method("noisy-arcmix", "tastgram").mixup_alpha == 0.5
    assert _method("arcface", "tastgram").mixup_alpha is None  # no mixup


def test_methods_see_traits_not_names():
    """A frontend declaring log-Mel alone gets the log-Mel defaults, whatever its name."""
    registry = load_plugins().registry
    declared = {name: _frontend(registry, name, AudioSpec(16000, 1.0)).traits
                for name in CHANNELS}
    assert declared["logmel"] == {"log-mel"}
    assert declared["tfstgram"] == {"log-mel", "tgram", "tfgram"}
    renamed = FrontendInfo((1, 64, 32), frozenset({"log-mel"}))
    other = FrontendInfo((1, 64, 32))
    method = registry.get("method", "os-scl")
    built = [method.create({}, num_classes=2, embedding_dim=8, frontend_info=info)
             for info in (renamed, other)]
    assert [(m.margin, m.fph_activation) for m in built] == [(0.7, "leaky_relu"), (0.4, "relu")]


@pytest.mark.parametrize("reduction", ["none", 128, 64, 32, 16, 8, 4])
def test_fph_reduction(reduction):
    method = _method("os-scl", "tfstgram", fph_reduction=reduction).train()
    if reduction == "none":
        assert method.fph is None
    else:
        assert method.fph.head[0].out_features == reduction
        assert [type(m).__name__ for m in method.fph.head] == [
            "Linear", "ReLU", "BatchNorm1d", "Linear", "ReLU", "BatchNorm1d"]
    e = method.embed(torch.randn(4, 128))
    torch.testing.assert_close(e.norm(dim=1), torch.ones(4))


@pytest.mark.parametrize(("key", "value"), [("fph_reduction", "abc"), ("fph_reduction", 0),
                                            ("fph_activation", "gelu"), ("margin", "big"),
                                            ("temperature", 0), ("eval_margin", "yes")])
def test_method_option_errors(key, value):
    with pytest.raises(AsdbenchError, match=f"method.{key}"):
        _method("os-scl", "logmel", **{key: value})


def test_eval_logits_carry_the_margin_by_default():
    torch.manual_seed(0)
    e = torch.nn.functional.normalize(torch.randn(3, 128), dim=1)
    labels = torch.tensor([0, 2, 4])
    default = _method("noisy-arcmix", "tastgram")
    plain = _method("noisy-arcmix", "tastgram", eval_margin=False)
    plain.load_state_dict(default.state_dict())
    cos_logits = plain.logits(e, labels)
    torch.testing.assert_close(cos_logits, 30.0 * e @ torch.nn.functional.normalize(plain.weight).T)
    margin_logits = default.logits(e, labels)
    rows = torch.arange(3)
    assert torch.all(margin_logits[rows, labels] < cos_logits[rows, labels])
    mask = torch.ones_like(cos_logits, dtype=torch.bool)
    mask[rows, labels] = False
    torch.testing.assert_close(margin_logits[mask], cos_logits[mask])


def test_reference_results_hook():
    from asdbench_osscl import plugin  # this plugin's rows only (others publish their own)

    rows = plugin.asdbench_reference_results()
    registry = load_plugins().registry
    tables = {r["table"] for r in rows}
    assert tables == {"table2", "table3", "table4", "table6"}
    for row in rows:
        for key in ("source", "table", "method", "frontend", "backbone", "dataset", "protocol",
                    "metrics"):
            assert key in row
        assert row["dataset"] == "dcase2020" and row["protocol"] in ("pooled", "dcase2020")
        if row["method"] != "clp-scf":
            assert registry.is_registered("method", row["method"])
            assert registry.is_registered("frontend", row["frontend"])
        for values in row["metrics"].values():
            assert all(0.0 <= v <= 1.0 for v in values.values())
    table2 = {(r["method"], r["frontend"]): r for r in rows if r["table"] == "table2"}
    assert table2[("os-scl", "tfstgram")]["metrics"]["average"] == {"auc": 0.9571, "pauc": 0.9023}
    assert table2[("os-scl", "tfstgram")]["protocol"] == "pooled"
    assert table2[("os-scl", "logmel")]["metrics"]["ToyConveyor"]["auc"] == 0.8164
    assert table2[("noisy-arcmix", "tastgram")]["metrics"]["fan"]["pauc"] == 0.9497
    table6 = {r["settings"].get("method.fph_reduction", 64): r["metrics"]["average"]["auc"]
              for r in rows if r["table"] == "table6"}
    assert table6 == {"none": 0.9494, 128: 0.938, 64: 0.9571, 32: 0.9546, 16: 0.9455,
                      8: 0.8622, 4: 0.483}
    mauc = {r["frontend"]: r["metrics"]["average"]["mauc"] for r in rows
            if r["table"] == "table4" and r["method"] == "os-scl"}
    assert mauc == {"logmel": 0.8924, "tfstgram": 0.9123}


def test_fusion_table_is_complete():
    assert set(frontends.FUSIONS) == set(CHANNELS)
    assert all(len(frontends.FUSIONS[n]) == c for n, c in CHANNELS.items())
