"""The published encoder checkpoints and ``asdbench weights list|fetch``.

Light at import (no torch): the catalogue is plain data. Every URL was read from the
publisher's own page, named in ``source``; no publisher's page read here gives a checksum or
size, so a download is checked by the size the server announces (NOTES.md, "Weights").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from asdbench.sdk import AsdbenchError, cache_dir

ENV_WEIGHTS = "ASDBENCH_WEIGHTS"


@dataclass(frozen=True)
class Weight:
    """One published checkpoint: where it is, what it is, how to check it."""

    name: str
    encoder: str
    filename: str
    url: str
    source: str
    description: str = ""
    size: int | None = None
    md5: str | None = None


# microsoft/unilm beats/README.md at commit 6ae30d5 (2023-03-01) published these direct links
# (a read-only token valid to 2033); the README now links OneDrive pages to the same files.
_BEATS_BLOB = "https://valle.blob.core.windows.net/share/BEATs/"
_BEATS_TOKEN = ("?sv=2020-08-04&st=2023-03-01T07%3A51%3A05Z&se=2033-03-02T07%3A51%3A00Z"
                "&sr=c&sp=rl&sig=QJXmSJG9DbMKf48UDIU1MfzIro8HQOf3sqlNXiflY1I%3D")
_BEATS_SOURCE = "github.com/microsoft/unilm beats/README.md (commit 6ae30d5)"


def _beats(name: str, filename: str, description: str) -> Weight:
    return Weight(name, "beats", filename, _BEATS_BLOB + filename + _BEATS_TOKEN,
                  _BEATS_SOURCE, description)


# cwx-worst-one/EAT README.md (commit 06c1c34) links these Hugging Face repositories; each holds
# the weights as transformers' default file, model.safetensors (a pickle-free format).
_EAT_HF = "https://huggingface.co/worstchan/"
_EAT_SOURCE = "github.com/cwx-worst-one/EAT README.md (commit 06c1c34), Hugging Face links"


def _eat(name: str, repo: str, description: str) -> Weight:
    return Weight(name, "eat", f"{repo}.safetensors",
                  f"{_EAT_HF}{repo}/resolve/main/model.safetensors", _EAT_SOURCE, description)


CATALOGUE: dict[str, Weight] = {w.name: w for w in (
    _beats("beats-iter3", "BEATs_iter3.pt",
           "BEATs iter3, self-supervised on AudioSet-2M (ASDKit's BEATs recipe)"),
    _beats("beats-iter3-as2m", "BEATs_iter3_plus_AS2M.pt",
           "BEATs iter3+, self-supervised on AudioSet-2M (GenRep's frozen encoder)"),
    _beats("beats-iter3-as20k", "BEATs_iter3_plus_AS20K.pt",
           "BEATs iter3+, tokenizer from AudioSet-20K"),
    _eat("eat-base-e30-pt", "EAT-base_epoch30_pretrain",
         "EAT-base, 30 epochs self-supervised on AudioSet-2M (ASDKit used the 10-epoch one)"),
    _eat("eat-base-e30-as2m", "EAT-base_epoch30_finetune_AS2M",
         "EAT-base, 30 epochs, then fine-tuned on AudioSet-2M labels"),
    _eat("eat-large-e20-pt", "EAT-large_epoch20_pretrain",
         "EAT-large (24 layers, 1024 wide), 20 epochs self-supervised on AudioSet-2M"),
    _eat("eat-large-e20-as2m", "EAT-large_epoch20_finetune_AS2M",
         "EAT-large, 20 epochs, then fine-tuned on AudioSet-2M labels"),
)}


def weights_dir() -> Path:
    """Where checkpoint names are looked up: ``$ASDBENCH_WEIGHTS``, else the cache's
    ``weights/``."""
    env = os.environ.get(ENV_WEIGHTS, "").strip()
    return Path(env).expanduser() if env else cache_dir() / "weights"


def lookup(name: str, catalogue: dict[str, Weight] | None = None) -> Weight:
    catalogue = CATALOGUE if catalogue is None else catalogue
    if name not in catalogue:
        raise AsdbenchError(f"no published checkpoint named '{name}'; known: "
                            f"{', '.join(sorted(catalogue))}")
    return catalogue[name]


def fetch(weight: Weight, to: Path, log=lambda _: None) -> Path:
    """``to/<filename>``, downloaded (resumed after a stop) and checked unless already there.

    A partial download waits in ``to/.partial/<name>/`` and a failed check moves it aside as
    ``.bad``, as ``asdbench data fetch`` does."""
    from asdbench.sdk import Archive, download  # the core's resumable, verified downloader

    final = to / weight.filename
    if final.is_file() and (weight.size is None or final.stat().st_size == weight.size):
        log(f"{weight.filename}: already in {to}")
        return final
    archive = Archive(url=weight.url, folder=".", size=weight.size, md5=weight.md5,
                      source=weight.source)
    got = download(archive, to / ".partial" / weight.name, log)
    to.mkdir(parents=True, exist_ok=True)
    os.replace(got, final)
    return final
