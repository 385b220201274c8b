"""Int8 post-training quantisation of an exported ONNX scoring model (ONNX Runtime's quantiser).

Only the weighted operators (convolutions and matrix products: what ONNX Runtime's static
quantiser handles; recurrent cells stay float) of the backbone and the method head are
quantised, but for the first layers, which read the features. The frontend and the scorer
stay float32: the log-Mel's
filterbank acts on power spectra before the log, whose range int8 cannot hold, and the
scorer's distances are the score itself. Parts are told apart by the name scopes the
``torch.export`` ONNX exporter records on every node (``pkg.torch.onnx.name_scopes``: the
first scope is the :class:`asdbench.export.ScoringModel` attribute, ``frontend``,
``backbone``, ``method`` or ``scores``).

Every graph is quantised statically: QDQ, signed int8 activations and weights as ONNX Runtime
advises for CPUs, weights per channel, activation ranges fixed from calibration clips (the
run's training clips). Fixed ranges make a clip's score independent of the clips scored with
it in a batch. Dynamic quantisation is not used, for two reasons. It takes each activation's
range from the whole batch of every call, so a clip's score would change with its batch.
And ONNX Runtime's dynamic quantiser rewrites every ``Gemm`` (torch's linear layers) into
``MatMul`` + ``Add`` under new names, so the named linear layers of the autoencoders were
left float32 while the file said int8 (onnxruntime 1.32.0,
``onnxruntime/quantization/onnx_quantizer.py`` lines 75-76). A quantised file without a
quantised operator is refused (:func:`count_quantized`).
The result runs in plain ONNX Runtime on a CPU.
"""

from __future__ import annotations

import ast
import contextlib
import io
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from asdbench.registry import AsdbenchError

QUANTIZED_PARTS = ("backbone", "method")
WEIGHTED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
SHAPE_OPS = ("Shape", "Size")  # their output is a shape, not data
SCOPES_KEY = "pkg.torch.onnx.name_scopes"
STATIC = "static"
# operators that exist only in a quantised graph
QUANTIZED_OPS = ("QuantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm", "ConvInteger",
                 "MatMulInteger", "DynamicQuantizeLinear")


def node_part(node: Any) -> str:
    """The ``ScoringModel`` part (``frontend``, ``backbone``, ``method``, ``scores``) an ONNX
    node was exported from, ``""`` when its name scopes do not say."""
    for prop in node.metadata_props:
        if prop.key == SCOPES_KEY:
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return ""
            first = scopes[1] if isinstance(scopes, list) and len(scopes) > 1 else ""
            return str(first).split(".", 1)[0]
    return ""


def first_layers(model: Any) -> set[str]:
    """Names of the backbone's and method's weighted nodes that read the features: no such
    node lies between them and the model's input along the data inputs (first inputs; the
    graph's nodes are in topological order; the frontend's nodes count as unweighted)."""
    raw = {i.name for i in model.graph.input}  # tensors computed from the input without weights
    first: set[str] = set()
    for node in model.graph.node:
        if not node.input or node.input[0] not in raw or node.op_type in SHAPE_OPS:
            continue
        if node.op_type in WEIGHTED_OPS and node_part(node) in QUANTIZED_PARTS:
            first.add(node.name)
        else:
            raw.update(node.output)
    return first


def quantizable_nodes(model: Any) -> list[Any]:
    """The weighted nodes of the backbone and method head of an ONNX ``ModelProto``, except
    the first layers (:func:`first_layers`): their input, the features, has the range that
    int8 holds worst (log-Mel decibels), and quantising it costs most of the accuracy."""
    first = first_layers(model)
    return [n for n in model.graph.node if n.op_type in WEIGHTED_OPS
            and node_part(n) in QUANTIZED_PARTS and n.name not in first]


class _Calibration:
    """ONNX Runtime's calibration reader over batches of waveforms (``{"wave": [B, L]}``)."""

    def __init__(self, batches: Iterable[np.ndarray]) -> None:
        self.batches = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        wave = next(self.batches, None)
        return None if wave is None else {"wave": np.ascontiguousarray(wave, dtype=np.float32)}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the quantiser's advice to pre-process (logged on the root logger) and prints."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def count_quantized(model: Any) -> int:
    """How many nodes of an ONNX ``ModelProto`` exist only in a quantised graph."""
    return sum(n.op_type in QUANTIZED_OPS for n in model.graph.node)


def quantize_onnx(fp32: str | Path, out: str | Path,
                  calibration: Iterable[np.ndarray] | None) -> dict[str, Any]:
    """Write the int8 version of the ONNX model ``fp32`` to ``out``; returns what was done.

    ``calibration`` (batches of waveforms ``[B, L]``) sets the activation ranges of the
    static quantisation. Returns what the sidecar records: ``mode`` ("static"), ``nodes``,
    ``op_types``, ``quantized_ops`` (:func:`count_quantized` of the written file), and how
    ``weights`` and ``activations`` are quantised.
    """
    import onnx  # noqa: PLC0415 - optional extra
    from onnxruntime.quantization import (  # noqa: PLC0415
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    nodes = quantizable_nodes(onnx.load(str(fp32)))
    if not nodes:
        raise AsdbenchError(f"no weighted operator ({', '.join(WEIGHTED_OPS)}) in the "
                            "backbone or method head to quantise (a model without a network "
                            "has nothing for int8)")
    if calibration is None:
        raise AsdbenchError("int8 quantisation needs calibration clips")
    names = [n.name for n in nodes]
    op_types = sorted({n.op_type for n in nodes})
    with _quiet():
        quantize_static(str(fp32), str(out), _Calibration(calibration),
                        quant_format=QuantFormat.QDQ, op_types_to_quantize=op_types,
                        nodes_to_quantize=names, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    written = count_quantized(onnx.load(str(out)))
    if not written:
        raise AsdbenchError(f"ONNX Runtime's quantiser left all {len(names)} "
                            f"{'/'.join(op_types)} nodes float32; report it with the run")
    return {"mode": STATIC, "nodes": len(names), "op_types": op_types,
            "quantized_ops": written, "weights": "int8, per output channel",
            "activations": "int8, per tensor, ranges fixed by min/max calibration: a clip's "
                           "score does not depend on the batch it is scored in"}
