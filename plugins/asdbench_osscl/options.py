"""The option schemas of the OS-SCL plugin's components (one owner: the hooks and the component
modules both read them from here).

Light on purpose: no torch, so ``asdbench plugins`` lists the components and their options
without importing the models.
"""

from __future__ import annotations

from asdbench.sdk import Option

# --- frontends -------------------------------------------------------------------------------

# Channel orders of the fused inputs (REFERENCE.md, "Fusions"); they also decide which options
# a frontend has.
FUSIONS: dict[str, tuple[str, ...]] = {
    "logmel": ("mel",),
    "stgram": ("mel", "tgram"),
    "tfstgram": ("mel", "tgram", "tfgram"),
    "tastgram": ("tgram", "mel", "tagram"),
}

LOGMEL_OPTIONS: dict[str, Option] = {
    "n_fft": Option(2048, minimum=1, help="FFT size of the log-Mel STFT"),
    "win_length": Option(2048, minimum=1, help="STFT window length (at most n_fft)"),
    "hop_length": Option(512, minimum=1, help="STFT hop; frames T = samples // hop + 1"),
    "n_mels": Option(128, minimum=1, help="Mel bands: the frequency bins of every channel"),
    "power": Option(2.0, above=0, help="spectrogram exponent (2: power, 1: magnitude)"),
    "pad_mode": Option("constant", choices=("constant", "reflect", "replicate", "circular"),
                       help="padding of the centred STFT"),
    "norm": Option("slaney", choices=("slaney", "none", "", None),
                   help="Mel filter-bank normalisation"),
    "mel_scale": Option("slaney", choices=("slaney", "htk"), help="Mel scale formula"),
    "log_floor": Option("clamp", choices=("clamp", "add"), omit_default=True,
                        help="dB floor: clamp = 10*log10(max(mel, 1e-10)) (torchaudio, OS-SCL, "
                             "STgram-MFN); add = 10*log10(mel + 2.2e-16) (Noisy-ArcMix)"),
}
TGRAM_OPTIONS: dict[str, Option] = {
    "tgram_win_length": Option(1024, minimum=1, help="Tgram conv window (even: its frames "
                                                     "then match the log-Mel's)"),
    "tgram_layers": Option(3, minimum=0, help="LayerNorm-LeakyReLU-conv layers of the Tgram"),
}
TFGRAM_OPTIONS: dict[str, Option] = {
    "tfgram_width": Option(64, minimum=1, help="channels inside the TFgram net"),
}


def frontend_options(name: str) -> dict[str, Option]:
    """Every option of frontend ``name``: its default, type and help."""
    options = dict(LOGMEL_OPTIONS)
    if "tgram" in FUSIONS[name]:
        options.update(TGRAM_OPTIONS)
    if "tfgram" in FUSIONS[name]:
        options.update(TFGRAM_OPTIONS)
    return options


# --- backbone --------------------------------------------------------------------------------

MOBILEFACENET_OPTIONS: dict[str, Option] = {
    "embedding_dim": Option(128, minimum=1, help="size of the embedding the backbone outputs"),
}

# --- methods ---------------------------------------------------------------------------------

AUTO = "auto"
ACTIVATIONS = ("relu", "leaky_relu")

_SCALE = Option(30.0, above=0, help="ArcFace scale s")
_EVAL_MARGIN = Option(True, help="score on logits with the margin on the clip's own class "
                                 "(the authors' evaluation); false: plain s*cos")
ARCFACE_OPTIONS: dict[str, Option] = {
    "margin": Option(0.7, type=float, minimum=0, choices=(AUTO,),
                     help="ArcFace angular margin m; auto: 0.7 for log-Mel alone, else 0.4"),
    "scale": _SCALE, "eval_margin": _EVAL_MARGIN,
}
MIXUP_OPTIONS: dict[str, Option] = {
    "mixup_alpha": Option(0.5, above=0, help="mixup: lambda ~ Beta(alpha, alpha) per batch"),
}
SUPCON_OPTIONS: dict[str, Option] = {
    "margin": Option(AUTO, type=float, minimum=0, choices=(AUTO,),
                     help="ArcFace margin m; auto: 0.7 for log-Mel alone, 0.4 for fused inputs"),
    "scale": _SCALE, "eval_margin": _EVAL_MARGIN,
    "fph_reduction": Option(64, type=int, minimum=1, choices=("none", None),
                            help="FPH bottleneck width R; none: no FPH (Table VI)"),
    "fph_activation": Option(AUTO, choices=(AUTO, *ACTIVATIONS),
                             help="FPH activation; auto: leaky_relu for log-Mel alone, else relu"),
    "temperature": Option(0.02, above=0, help="SupCon temperature tau"),
    "base_temperature": Option(0.07, above=0, help="SupCon loss scaled by tau / this"),
}
OSSCL_OPTIONS: dict[str, Option] = {**SUPCON_OPTIONS, **MIXUP_OPTIONS}
