"""Recipes: each authors' recipe resolves to its authors' values (the table below, each value
with the line of the authors' code it comes from), what the user sets wins, the run id tells
presets apart, and ``common`` changes nothing."""

from __future__ import annotations

import pytest
from asdbench_osscl.recipes import NOT_EXPRESSIBLE, RECIPES, STGRAM_MFN_LOGMEL

from asdbench.config import resolve
from asdbench.plugins import get_registry, load_plugins
from asdbench.registry import AsdbenchError

# Repositories and the commits read (the newest stored snapshot of each).
STGRAM = "liuyoude/STgram-MFN@d6c8865"
NAMIX = "soonhyeon/Noisy-ArcMix@674c759"
OSSCL = "huangswt/OS-SCL@9aca394"
CLPSCF = "liuyoude/STgram-MFN-Contrastive@d1470ca"
MNV2 = "y-kawagu/dcase2021_task2_baseline_mobile_net_v2@e2bb4f7"
AE2020 = "y-kawagu/dcase2020_task2_baseline@ebfcc2a"
ADACOS = "wilkinghoff/sub-cluster-AdaCos@260d509"
NO_AUTOCAST = "no autocast, GradScaler or mixed-precision policy in the repository"

# (method, components, recipe) -> {setting: (the authors' value, where it is written)}
AUTHORS: dict[tuple[str, tuple[tuple[str, str], ...], str], dict[str, tuple]] = {
    ("arcface", (("frontend", "stgram"),), "authors"): {
        "train.epochs": (301, f"{STGRAM} trainer.py:37 range(0, epochs + 1), config.yaml:57 "
                              "epochs: 300"),
        "train.sched_t_max": (300, f"{STGRAM} run.py:49 CosineAnnealingLR(T_max=args.epochs)"),
        "train.eta_min_factor": (0.1, f"{STGRAM} run.py:49 eta_min=0.1*lr"),
        "train.sched_start_epoch": (20, f"{STGRAM} trainer.py:59-60, config.yaml:68 "
                                        "start_scheduler_epoch: 20"),
        "train.lr": (1e-4, f"{STGRAM} config.yaml:60"),
        "train.weight_decay": (0.0, f"{STGRAM} run.py:48 torch.optim.Adam(params, lr)"),
        "train.batch_size": (128, f"{STGRAM} config.yaml:58"),
        "train.val_fraction": (0.0, f"{STGRAM} run.py:31-38 every train + add file trained on"),
        "train.ema": (False, f"{STGRAM} trainer.py:51-53, 71-73 the live net stepped and saved"),
        "train.live_weight_decay": (0.0, f"{STGRAM} trainer.py:51-53 optimiser step only"),
        "train.amp": ("fp32", f"{STGRAM} trainer.py:47-48 ({NO_AUTOCAST})"),
        # the authors select on test AUC + pAUC (trainer.py:63-74): "authors-test-selected"
        "train.select": ("last", "deliberate: the authors' selection uses test labels"),
        "method.margin": (0.7, f"{STGRAM} config.yaml:73"),
        "method.scale": (30.0, f"{STGRAM} config.yaml:74"),
        "frontend.n_fft": (1024, f"{STGRAM} config.yaml:47, utils.py:125-130"),
        "frontend.win_length": (1024, f"{STGRAM} config.yaml:49"),
        "frontend.hop_length": (512, f"{STGRAM} config.yaml:50"),
        "frontend.n_mels": (128, f"{STGRAM} config.yaml:48"),
        "frontend.power": (2.0, f"{STGRAM} config.yaml:51"),
        "frontend.pad_mode": ("reflect", f"{STGRAM} utils.py:125-130 torchaudio default"),
        "frontend.norm": ("none", f"{STGRAM} utils.py:125-130 torchaudio default"),
        "frontend.mel_scale": ("htk", f"{STGRAM} utils.py:125-130 torchaudio default"),
    },
    ("noisy-arcmix", (("frontend", "tastgram"),), "authors"): {
        "train.epochs": (300, f"{NAMIX} config.yaml:5, trainer.py:31 range(self.epochs)"),
        "train.lr": (1e-4, f"{NAMIX} config.yaml:12"),
        "train.weight_decay": (0.01, f"{NAMIX} trainer.py:15 AdamW(params, lr): default decay"),
        "train.batch_size": (64, f"{NAMIX} config.yaml:10"),
        "train.sched_t_max": (0, f"{NAMIX} trainer.py:17 T_max=epochs (0: the run's)"),
        "train.sched_start_epoch": (0, f"{NAMIX} trainer.py:62 stepped after every epoch"),
        "train.eta_min_factor": (0.1, f"{NAMIX} trainer.py:17"),
        "train.val_fraction": (0.05, f"{NAMIX} config.yaml:8 split_ratio 0.95, utils.py:10-18"),
        "train.select": ("val_ce", f"{NAMIX} trainer.py:69-74 lowest validation loss"),
        "train.ema": (False, f"{NAMIX} trainer.py:67-74 the live net validated and saved"),
        "train.live_weight_decay": (0.0, f"{NAMIX} trainer.py:57-59 optimiser step only"),
        "train.amp": ("fp16", f"{NAMIX} trainer.py:6, 40 torch.cuda.amp.autocast(), no "
                              "GradScaler; valid() trainer.py:76-92 without autocast"),
        "method.margin": (0.7, f"{NAMIX} config.yaml:2"),
        "method.mixup_alpha": (0.5, f"{NAMIX} config.yaml:1, utils.py:22-35"),
        "frontend.n_fft": (2048, f"{NAMIX} dataloader.py:53"),
        "frontend.hop_length": (512, f"{NAMIX} dataloader.py:53"),
        "frontend.n_mels": (128, f"{NAMIX} dataloader.py:53"),
        "frontend.pad_mode": ("constant", f"{NAMIX} dataloader.py:13"),
        "frontend.norm": ("slaney", f"{NAMIX} dataloader.py:13"),
        "frontend.mel_scale": ("slaney", f"{NAMIX} dataloader.py:13"),
        "frontend.log_floor": ("add", f"{NAMIX} dataloader.py:15 20/power*log10(mel + "
                                      "sys.float_info.epsilon)"),
    },
    ("os-scl", (("frontend", "tfstgram"),), "authors"): {
        "train.epochs": (300, f"{OSSCL} config.yaml:5, trainer.py:48"),
        "train.lr": (1e-4, f"{OSSCL} trainer.py:12, 35"),
        "train.weight_decay": (0.01, f"{OSSCL} trainer.py:35 AdamW(params, lr): default decay"),
        "train.batch_size": (64, f"{OSSCL} config.yaml:7"),
        "train.eta_min_factor": (0.1, f"{OSSCL} trainer.py:39-40"),
        "train.val_fraction": (0.05, f"{OSSCL} utils.py:11 split_ratio=0.95"),
        "train.select": ("val_ce", f"{OSSCL} trainer.py:77-83 lowest validation loss"),
        "train.ema": (True, f"{OSSCL} trainer.py:37, 69, 83 the EMA net stepped and saved"),
        "train.ema_decay": (0.9999, f"{OSSCL} losses.py:142 alpha=0.9999"),
        "train.live_weight_decay": (2e-6, f"{OSSCL} losses.py:149, 159 wd = 0.02 * 1e-4"),
        "train.amp": ("fp32", f"{OSSCL} trainer.py:59-69 ({NO_AUTOCAST})"),
        "method.margin": ("auto", f"{OSSCL} config.yaml:1 m: 0.4 for TFSTgram (auto: 0.4 for "
                                  "fused inputs, the paper's 0.7 for log-Mel alone)"),
        "method.mixup_alpha": (0.5, f"{OSSCL} utils.py:24"),
        "frontend.n_fft": (2048, f"{OSSCL} dataloader.py:13"),
        "frontend.win_length": (2048, f"{OSSCL} dataloader.py:15"),
        "frontend.pad_mode": ("constant", f"{OSSCL} dataloader.py:25"),
        "frontend.norm": ("slaney", f"{OSSCL} dataloader.py:26"),
        "frontend.mel_scale": ("slaney", f"{OSSCL} dataloader.py:27"),
    },
    ("clp-scf", (("frontend", "stgram"),), "authors"): {
        "train.epochs": (400, f"{CLPSCF} config.yaml:55 con_epochs 101 (checkpoint 100 used, "
                              "run.py:64), config.yaml:73 epochs 300"),
        "train.batch_size": (128, f"{CLPSCF} config.yaml:56, 74"),
        "train.lr": (1e-4, f"{CLPSCF} config.yaml:76"),
        "train.weight_decay": (0.0, f"{CLPSCF} run.py:50, 89 torch.optim.Adam(params, lr)"),
        "train.eta_min_factor": (0.0, f"{CLPSCF} run.py:90 eta_min=0"),
        "train.ema": (False, f"{CLPSCF} trainer.py the classifier itself stepped and saved"),
        "train.val_fraction": (0.0, f"{CLPSCF} run.py:80-88 every training clip"),
        "train.amp": ("fp32", f"{CLPSCF} trainer.py:18 imports autocast, GradScaler; never "
                              "called"),
    },
    ("softmax", (("backbone", "mobilenetv2"),), "authors"): {
        "train.lr": (1e-5, f"{MNV2} baseline.yaml:19"),
        "train.epochs": (20, f"{MNV2} baseline.yaml:20"),
        "train.batch_size": (32, f"{MNV2} baseline.yaml:21"),
        "train.val_fraction": (0.1, f"{MNV2} baseline.yaml:23"),
        "train.ema": (False, f"{MNV2} 00_train.py:232-238 model.fit, the model saved"),
        "train.select": ("last", f"{MNV2} 00_train.py:232-238 no checkpoint callback"),
        "train.amp": ("fp32", f"{MNV2} keras_model.py:33 ({NO_AUTOCAST}: Keras float32)"),
    },
    ("dcase2020-ae", (("backbone", "frames"), ("scorer", "method")), "authors"): {
        "train.epochs": (100, f"{AE2020} baseline.yaml:21"),
        "train.val_fraction": (0.1, f"{AE2020} baseline.yaml:24"),
        "train.ema": (False, f"{AE2020} 00_train.py:200-201 model.fit"),
        "train.amp": ("fp32", f"{AE2020} 00_train.py:200 ({NO_AUTOCAST}: Keras float32)"),
    },
    ("subcluster-adacos", (), "authors"): {
        "train.epochs": (400, f"{ADACOS} main.py:367-368 epochs 100 x aeons 4"),
        "train.batch_size": (64, f"{ADACOS} main.py:365"),
        "train.lr": (1e-3, f"{ADACOS} main.py:386 tf.keras.optimizers.Adam() default"),
        "train.ema": (False, f"{ADACOS} main.py:393-402 model.fit"),
        "train.amp": ("fp32", f"{ADACOS} main.py:386 ({NO_AUTOCAST}: Keras float32)"),
    },
}


@pytest.fixture(scope="module")
def registry():
    return get_registry()


@pytest.mark.parametrize("key", sorted(AUTHORS), ids=lambda k: f"{k[0]}-{k[2]}")
def test_each_authors_recipe_resolves_to_its_authors_values(registry, key):
    method, components, recipe = key
    cfg = resolve({"method": method, **dict(components), "recipe": recipe}, registry)
    for setting, (value, source) in AUTHORS[key].items():
        got = cfg[setting]
        assert got == value and type(got) is type(value), f"{setting}: {got!r} ({source})"


def test_authors_recipes_express_no_ema_and_precision_as_settings():
    """No recipe turns EMA off by a tiny decay, and every one names its precision."""
    from asdbench_adacos.recipes import RECIPES as ADACOS_RECIPES
    from asdbench_clpscf.recipes import RECIPES as CLPSCF_RECIPES
    from asdbench_dcase_baselines.recipes import RECIPES as BASELINE_RECIPES
    from asdbench_glow.recipes import recipes_of as glow_recipes
    from asdbench_mobilenetv2.recipes import RECIPES as MNV2_RECIPES

    every = [RECIPES, ADACOS_RECIPES, CLPSCF_RECIPES, BASELINE_RECIPES, MNV2_RECIPES,
             {"glow-aff": glow_recipes("glow-aff")}]
    presets = [p for table in every for recipes in table.values() for p in recipes.values()]
    assert len(presets) >= 12
    for preset in presets:
        assert preset["train.amp"] in ("fp32", "fp16", "bf16")
        assert "train.ema" in preset
        assert preset.get("train.ema_decay", 0.9999) == 0.9999


def test_presets_differ_in_run_id_and_common_keeps_the_old_ids(registry):
    base = {"method": "arcface", "frontend": "stgram"}
    common = resolve(base, registry)
    assert resolve({**base, "recipe": "common"}, registry).run_id == common.run_id
    reg = load_plugins().registry
    reg.get("method", "arcface").recipes = {}
    assert common.run_id == resolve(base, reg).run_id  # as without recipes at all
    authors = resolve({**base, "recipe": "authors"}, registry)
    assert authors.run_id != common.run_id
    # the name is identity too: the same values under another name are another run
    assert resolve(authors.to_flat(), registry) == authors
    renamed = {**RECIPES["arcface"]["authors"], **base}
    assert resolve(renamed, registry).run_id != authors.run_id


def test_user_settings_win_over_the_preset_and_the_preset_over_dataset_defaults(registry):
    cfg = resolve({"method": "arcface", "frontend": "stgram", "recipe": "authors",
                   "train.batch_size": 16, "train.amp": "bf16"}, registry)
    assert cfg.train.batch_size == 16 and cfg.train.weight_decay == 0.0
    assert cfg["train.amp"] == "bf16"
    # synthetic's train_defaults set batch 32; the recipe's 128 wins over it
    assert resolve({"method": "arcface", "recipe": "authors"}, registry).train.batch_size == 128
    assert resolve({"method": "arcface"}, registry).train.batch_size == 32
    stgram = resolve({"method": "arcface", "frontend": "stgram", "recipe": "authors"}, registry)
    assert {k: stgram[k] for k in STGRAM_MFN_LOGMEL} == STGRAM_MFN_LOGMEL


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


def test_what_is_not_expressible_is_listed_per_method():
    assert set(NOT_EXPRESSIBLE) == set(RECIPES)
    assert NOT_EXPRESSIBLE["noisy-arcmix"] == [] and NOT_EXPRESSIBLE["os-scl"] == []
