"""Finding, reading and checking encoder checkpoints, and adding LoRA adapters.

Checkpoints are read with ``torch.load(weights_only=True)`` (or as safetensors) and nothing
else: a file holding pickled code or objects is refused in one line. Every expected failure
(missing file, damaged file, another architecture) is one :class:`AsdbenchError` line.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asdbench.sdk import AsdbenchError
from asdbench_encoders import weights


@dataclass(frozen=True)
class EncoderSpec:
    """How one encoder family is built and read: ``read(path) -> (cfg, state dict)``,
    ``build(cfg) -> module``, ``archs`` (the random sizes) and the cache ``version``."""

    name: str
    build: Callable[[dict[str, Any]], nn.Module]
    read: Callable[[Path], tuple[dict[str, Any], dict[str, torch.Tensor]]]
    archs: dict[str, dict[str, Any]]
    sample_rate: int = 16000
    version: int = 1


def load_file(path: Path) -> Any:
    """The object in checkpoint ``path``: safetensors, or a torch file read with
    ``weights_only=True``; a refused or unreadable file is a one-line error."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file as load_safetensors

        try:
            return load_safetensors(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise AsdbenchError(f"{path}: not a readable safetensors file ({_first(exc)}); "
                                "download it again") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower() or "weights_only" in str(exc):
            raise AsdbenchError(f"{path}: refused: it holds pickled code or objects beyond "
                                "tensors, and checkpoints are only loaded with "
                                "torch.load(weights_only=True)") from None
        raise AsdbenchError(f"{path}: not a readable checkpoint ({_first(exc)}); is it "
                            "truncated? download it again") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise AsdbenchError(f"{path}: not a readable checkpoint ({_first(exc)}); is it "
                            "truncated? download it again") from None


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def check_keys(path: Path, what: str, expected: dict[str, torch.Size],
               got: dict[str, torch.Tensor]) -> None:
    """A one-line error naming the keys where ``got`` differs from ``expected`` shapes."""
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    wrong = [k for k in expected if k in got and tuple(got[k].shape) != tuple(expected[k])]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:2])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:2])})")
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} keys of other shapes (e.g. {k}: "
                     f"{tuple(got[k].shape)}, expected {tuple(expected[k])})")
    if parts:
        raise AsdbenchError(f"{path}: not a {what} checkpoint of the architecture its cfg "
                            f"describes: {'; '.join(parts)}")


def resolve(value: str, encoder: str) -> Path:
    """The checkpoint file ``value`` names: a catalogue name (``asdbench weights list``) in
    the weights folder, or a path. A missing file is a one-line error printing the command
    that fetches it."""
    entry = weights.CATALOGUE.get(value)
    path = weights.weights_dir() / entry.filename if entry else Path(value).expanduser()
    if path.is_file():
        return path
    if entry is None:
        entry = next((w for w in weights.CATALOGUE.values()
                      if w.filename == path.name and w.encoder == encoder), None)
    if entry is None:
        raise AsdbenchError(f"frontend.checkpoint: {path} not found; `asdbench weights list` "
                            "names the published checkpoints")
    raise AsdbenchError(f"frontend.checkpoint: {path} not found; fetch it with: asdbench "
                        f"weights fetch {entry.name} --to {path.parent}")


def file_identity(path: Path) -> str:
    """Path, size and modification time of a file, hashed (names it in cache keys)."""
    st = path.stat()
    blob = f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def fingerprint(module: nn.Module) -> str:
    """A short hash of every tensor of ``module`` (names a random encoder in cache keys)."""
    h = hashlib.sha256()
    for key, value in module.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def build_encoder(spec: EncoderSpec, checkpoint: str, arch: str) -> tuple[nn.Module, str]:
    """The encoder and a string identifying its weights: from ``checkpoint`` when given,
    else random weights of size ``arch``."""
    if not checkpoint:
        module = spec.build(spec.archs[arch])
        return module, f"random-{arch}-{fingerprint(module)}"
    path = resolve(checkpoint, spec.name)
    cfg, state = spec.read(path)
    module = _checked_build(spec, path, cfg, state)
    module.load_state_dict(state)
    return module, f"{path.name}-{file_identity(path)}"


def _checked_build(spec: EncoderSpec, path: Path, cfg: dict[str, Any],
                   state: dict[str, torch.Tensor], device: str | None = None) -> nn.Module:
    """The module ``cfg`` describes (on ``device``), once ``state`` is known to fit it."""
    try:
        with torch.device(device) if device else _no_context():
            module = spec.build(cfg)
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise AsdbenchError(f"{path}: its cfg does not describe a {spec.name} encoder "
                            f"({_first(exc)})") from None
    check_keys(path, spec.name, {k: v.shape for k, v in module.state_dict().items()}, state)
    return module


def check_checkpoint(spec: EncoderSpec, checkpoint: str) -> Path:
    """The checkpoint file ``checkpoint`` names, once found, read and matched against the
    architecture it describes (built without memory, on the meta device); each failure is a
    one-line error. Runs call it before decoding any audio."""
    path = resolve(checkpoint, spec.name)
    cfg, state = spec.read(path)
    _checked_build(spec, path, cfg, state, device="meta")
    return path


def _no_context():
    import contextlib

    return contextlib.nullcontext()


def aliases(module: nn.Module, prefix: str = "") -> dict[str, str]:
    """Keys of ``module``'s state dict holding a tensor an earlier key holds -> that key."""
    seen: dict[int, str] = {}
    out: dict[str, str] = {}
    for key, value in module.state_dict(keep_vars=True).items():
        if id(value) in seen:
            out[prefix + key] = prefix + seen[id(value)]
        else:
            seen[id(value)] = key
    return out


def add_lora(encoder: nn.Module, targets: list[str], rank: int, alpha: float,
             dropout: float) -> None:
    """Low-rank adapters (peft) on the linear layers named ``targets``; only they train."""
    import peft

    if not targets:
        raise AsdbenchError("frontend.lora_targets: name at least one module (e.g. q_proj)")
    names = {n.rsplit(".", 1)[-1] for n, m in encoder.named_modules() if isinstance(m, nn.Linear)}
    unknown = [t for t in targets if t not in names]
    if unknown:
        raise AsdbenchError(f"frontend.lora_targets: no linear layer named {unknown[0]!r}; "
                            f"the encoder has {', '.join(sorted(names))}")
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets,
                             lora_dropout=dropout)
    peft.inject_adapter_in_model(config, encoder)
    for name, p in encoder.named_parameters():
        p.requires_grad_("lora_" in name)


def _read_beats(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    obj = load_file(path)
    if not (isinstance(obj, dict) and isinstance(obj.get("cfg"), dict)
            and isinstance(obj.get("model"), dict)):
        raise AsdbenchError(f"{path}: not a BEATs checkpoint (the published format is a dict "
                            "with 'cfg' and 'model')")
    return obj["cfg"], obj["model"]


def _build_beats(cfg: dict[str, Any]) -> nn.Module:
    from asdbench_encoders.beats import BEATs

    return BEATs(cfg)


def _beats_spec() -> EncoderSpec:
    from asdbench_encoders.beats import ARCHS

    return EncoderSpec("beats", _build_beats, _read_beats, ARCHS)


def _safetensors_cfg(path: Path) -> dict[str, Any]:
    """The ``cfg`` a safetensors file carries as JSON in its metadata, or {}."""
    import json

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        text = (f.metadata() or {}).get("cfg")
    try:
        cfg = json.loads(text) if text else {}
    except ValueError:
        raise AsdbenchError(f"{path}: its metadata 'cfg' is not JSON") from None
    return cfg if isinstance(cfg, dict) else {}


def _read_eat(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    from asdbench_encoders import eat

    cfg: dict[str, Any] = {}
    try:
        obj = load_file(path)
    except AsdbenchError as exc:
        if "refused" in str(exc):
            raise AsdbenchError(f"{path}: refused: a fairseq checkpoint holds pickled objects "
                                "(its omegaconf cfg) and is only loaded with "
                                "torch.load(weights_only=True); use the Hugging Face "
                                "safetensors release instead: asdbench weights fetch "
                                "eat-base-e30-pt") from None
        raise
    if path.suffix == ".safetensors":
        cfg = _safetensors_cfg(path)
    elif isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        cfg = obj["cfg"] if isinstance(obj.get("cfg"), dict) else {}
        obj = obj["model"]
    if not (isinstance(obj, dict) and obj
            and all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise AsdbenchError(f"{path}: not an EAT checkpoint (expected the Hugging Face "
                            "safetensors release, or a dict of tensors under 'model')")
    state = eat.rename(obj)
    cfg = eat.config_from_state(state, cfg)
    state.pop("positions", None)  # fixed sin-cos: the model computes its own
    return cfg, state


def _build_eat(cfg: dict[str, Any]) -> nn.Module:
    from asdbench_encoders.eat import EAT

    return EAT(cfg)


def _eat_spec() -> EncoderSpec:
    from asdbench_encoders.eat import ARCHS

    return EncoderSpec("eat", _build_eat, _read_eat, ARCHS)


class _Specs(dict):
    """The encoder specs by name, built on first use."""

    _makers: dict[str, Callable[[], EncoderSpec]] = {"beats": _beats_spec, "eat": _eat_spec}

    def __missing__(self, key: str) -> EncoderSpec:
        spec = self._makers[key]()
        self[key] = spec
        return spec


SPECS = _Specs()
