"""Calibrating the synthetic generator (issue 14): what a trained model detects, fault by fault.

A benchmark AUC mixes every fault, severity and ID. This tool separates them: for each machine
ID of a finished synthetic run it renders fresh normal clips and, under controlled conditions,
clips with one fault at a fixed severity (0.5, 1, 2) and clips of the machine moved half-way
to (and onto) a sibling ID of its type; each condition is scored by the run's own model and
scorer and its AUC against the normal clips is averaged over the type's IDs. A detector that
sees "half-way to a sibling" but not a fault of severity 1 is blind to what that fault changes.

Generator variants are calibration knobs: a JSON object of module constants of
``asdbench_datasets.sound.synth`` (names as there) and ``asdbench_datasets.sound.faults``
(prefixed ``f.``), applied in this process only. ``train`` generates a variant's clips in its
own folder and runs ``asdbench run`` on them; ``probe`` renders its conditions with the same
variant::

    python -m bench.synthetic_probe train --variant v.json --data /tmp/v --results /tmp/r -- \\
        --method arcface --frontend logmel --epochs 12
    python -m bench.synthetic_probe probe --run /tmp/r/runs/<run-id> --variant v.json

Nothing here writes outside ``--data`` and ``--results``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from asdbench.errors import AsdbenchError

SEVERITIES = (0.5, 1.0, 2.0)


def apply_variant(variant: dict[str, Any]) -> None:
    """Set the generator constants of ``variant`` (unknown names are an error)."""
    from asdbench_datasets.sound import faults, synth

    for key, value in variant.items():
        module, name = (faults, key[2:]) if key.startswith("f.") else (synth, key)
        if not hasattr(module, name):
            raise SystemExit(f"error: variant key '{key}' is not a constant of "
                             f"{module.__name__}")
        old = getattr(module, name)
        setattr(module, name, tuple(value) if isinstance(old, tuple) else type(old)(value))
        if module is faults and hasattr(synth, name):  # re-exported names
            setattr(synth, name, getattr(module, name))


def load_variant(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: --variant {path}: {exc}") from None


def halfway(a: Any, b: Any, t: float) -> Any:
    """The machine ``a`` moved a fraction ``t`` towards ``b`` in every real-valued parameter
    (arrays and band edges included; counts, names and the fault strength kept)."""
    out = {}
    for field in fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if field.name == "strength" or not isinstance(x, float | tuple | np.ndarray):
            continue
        mid = (1 - t) * np.asarray(x, float) + t * np.asarray(y, float)
        out[field.name] = float(mid) if isinstance(x, float) else (
            tuple(map(float, mid)) if isinstance(x, tuple) else mid)
    return replace(a, **out)


def probe(run_dir: Path, clips: int) -> dict[str, dict[str, float]]:
    """AUC (%) of every condition against fresh normal clips, per machine type."""
    import torch
    from asdbench_datasets.sound import synth
    from asdbench_datasets.sound.faults import FAULTS
    from sklearn.metrics import roc_auc_score

    from asdbench.run.evaluate import embed
    from asdbench.run.service import (
        DecodedClips,
        ScoringInputs,
        fitted_scores,
        get_registry,
        load_run,
    )

    run = load_run(run_dir, "cpu")
    cfg = run.config
    if "data.ids_per_type" not in cfg:
        raise AsdbenchError(f"{run_dir}: a run of dataset '{cfg['dataset']}', not of the "
                            f"synthetic generator: nothing to probe")
    num_ids, seed = int(cfg["data.ids_per_type"]), int(cfg["data.seed"])

    def scores(waves: list[np.ndarray], label: int) -> np.ndarray:
        chunk = DecodedClips(np.stack(waves).astype(np.float32), run.model.frontend,
                             torch.full((len(waves),), label))
        emb, logits = embed(run.model, chunk, run.device, cfg["train.amp"], batch_size=64)
        test = ScoringInputs(embeddings=emb, logits=logits,
                             class_index=np.full(len(waves), label),
                             domain=np.array([""] * len(waves), dtype=object))
        return fitted_scores(run, cfg, get_registry(), test)

    out: dict[str, dict[str, list[float]]] = {}
    for mtype in {c.split("/")[0]: None for c in run.classes}:
        machines = [synth.make_machine(mtype, i, num_ids, seed, float(cfg["data.id_similarity"]))
                    for i in range(num_ids)]
        for i, machine in enumerate(machines):
            label = run.classes.index(f"{mtype}/{i:02d}")

            def render(m: Any, stream: int, fault: str | None = None, s: float = 0.0,
                       i: int = i) -> list[np.ndarray]:
                return [synth.to_pcm16(synth.render(
                    m, np.random.default_rng([977, seed, i, stream, k]), run.audio, fault, s)
                ) / 32768.0 for k in range(clips)]

            conditions = {f"{f}@{s:g}": render(machine, 1, f, s)
                          for f in FAULTS[mtype] for s in SEVERITIES}
            if num_ids > 1:
                sibling = machines[(i + 1) % num_ids]
                conditions["sibling@0.5"] = render(halfway(machine, sibling, 0.5), 2)
                conditions["sibling@1"] = render(halfway(machine, sibling, 1.0), 3)
            normal = scores(render(machine, 0), label)
            for name, waves in conditions.items():
                y = np.r_[np.zeros(clips), np.ones(clips)]
                auc = roc_auc_score(y, np.r_[normal, scores(waves, label)])
                out.setdefault(mtype, {}).setdefault(name, []).append(100 * auc)
    return {t: {c: float(np.mean(v)) for c, v in conds.items()} for t, conds in out.items()}


def train(data: str, results: str, args: list[str]) -> int:
    """``asdbench run ARGS`` on the variant's clips (generated under ``data``)."""
    import click

    from asdbench.cli import add_plugin_commands, cli

    add_plugin_commands(cli)
    argv = ["run", "--results", results, "--set", f"data.root={data}", *args]
    try:
        cli.main(argv, prog_name="asdbench", standalone_mode=False)
    except click.ClickException as exc:  # an unknown or bad option: one line, not a traceback
        print(f"error: {exc.format_message()}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="asdbench run on a variant's clips")
    t.add_argument("--variant", help="JSON file of generator constants")
    t.add_argument("--data", required=True, help="folder the variant's clips go to")
    t.add_argument("--results", required=True, help="results folder of the run")
    t.add_argument("args", nargs=argparse.REMAINDER, help="-- then asdbench run options")
    p = sub.add_parser("probe", help="AUC per fault and severity of a finished run")
    p.add_argument("--run", required=True, help="a finished run folder (synthetic dataset)")
    p.add_argument("--variant", help="JSON file of generator constants the run was made with")
    p.add_argument("--clips", type=int, default=16, help="clips per condition and ID")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    ns = parser.parse_args(argv)
    apply_variant(load_variant(ns.variant))
    if ns.command == "train":
        return train(ns.data, ns.results, [a for a in ns.args if a != "--"])
    try:
        table = probe(Path(ns.run), ns.clips)
    except AsdbenchError as exc:  # not a finished run, not a synthetic one: one line
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if ns.json:
        print(json.dumps(table))
        return 0
    print(f"AUC (%) of each condition against {ns.clips} fresh normal clips per machine ID, "
          f"mean over the type's IDs; model and scorer of {ns.run}; conditions rendered by "
          f"the generator{' with ' + ns.variant if ns.variant else ''}")
    for mtype, conds in table.items():
        print(mtype + ": " + ", ".join(f"{c} {v:.0f}" for c, v in conds.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
