"""Export a torch model to one checked, self-describing ONNX file.

:func:`export_onnx` turns any ``nn.Module`` (a built architecture with its task's head,
trained or not) into an ``onnx.ModelProto`` with a dynamic batch axis, runs
``onnx.checker.check_model(full_check=True)``, and compares onnxruntime with torch on
random inputs at batch sizes 1 and 7. A failure at any step is an :class:`ExportError`
that carries the numbers.

Two exporters, chosen by measurement (``nas perf export``, figures in docs/export_store.md):

* ``"torchscript"``: ``torch.onnx.export(..., dynamo=False)``; ~5-50 ms for small nets.
  Deprecated in torch 2.9+, so its deprecation warnings are silenced here.
* ``"dynamo"``: the ``torch.export`` based exporter; ~0.8-3 s per model.
* ``"auto"`` (default): TorchScript first (20-100x faster on the nets we export); on any
  failure (export error, checker, or onnxruntime parity) it falls back to dynamo, so a
  model the legacy exporter silently mistranslates is caught by parity and re-exported.

The default opset is 18: the lowest that has ``Col2Im`` (einspace's col2im routing) and
the native opset of the dynamo exporter (it would otherwise down-convert). Every shape
except the batch axis is fixed at export time; models whose output is ``(B, N, N)`` over
``N`` input items (pointer heads) record ``fixed_sequence_length = N`` in metadata.

The dynamo exporter must not run beside training in the same process: while it runs,
``torch.compiler.is_exporting()`` is true for every thread, so an optimizer step on
another thread enters dynamo's export annotations, which share one global dict, and one
of the two crashes (``KeyError: 'custom'`` in ``torch.fx.traceback.annotate``; seen
when TorchScript's export of a trained ``ptrnet`` pointer network failed onnxruntime
parity and the fallback ran on a search's background thread). A thread that
exports beside training runs inside :func:`dynamo_deferred`: where the dynamo exporter
would be needed, :class:`ExportDeferred` is raised instead, and the caller exports the
model again on its own thread, between trainings (:mod:`nas.search.exporter`).

Metadata lives in ``metadata_props``: :func:`set_metadata` always puts the key ``score``
first, because ONNX-Net/ONNX-Bench readers take ``metadata_props[0].value`` as the
accuracy. :func:`read_metadata` reads it back from a model or, cheaply, from a file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from nas.errors import ExportError, first_line
from nas.onnx_cost import count_macs, count_params, measure_latency
from nas.onnx_file import (
    encode_metadata_value,
    read_metadata,
    save_onnx,
    set_metadata,
    write_atomic,
)

__all__ = [
    "DEFAULT_OPSET",
    "EXPORTERS",
    "ExportResult",
    "count_macs",
    "count_params",
    "encode_metadata_value",
    "export_onnx",
    "measure_latency",
    "read_metadata",
    "save_onnx",
    "set_metadata",
    "write_atomic",
]

DEFAULT_OPSET = 18
MIN_OPSET = 17
EXPORTERS = ("auto", "torchscript", "dynamo")
INPUT_NAME = "input"
# Batch size used to trace; neither 1 (torch.export specialises size-1 dims) nor a
# parity size, so parity at 1 and 7 checks sizes the trace never saw.
_TRACE_BATCH = 2


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` produced.

    ``seconds`` is the wall time of the whole call (export + checker + parity);
    ``max_abs_err`` / ``max_rel_err`` are the largest onnxruntime-vs-torch differences
    over all parity batches (``nan`` when ``parity=False``); ``path`` is where the file
    was written, if a path was given; ``notes`` says why ``"auto"`` fell back, if it did.
    """

    model: onnx.ModelProto
    exporter: str
    opset: int
    seconds: float
    max_abs_err: float
    max_rel_err: float
    path: Path | None = None
    notes: tuple[str, ...] = ()


def export_onnx(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    path: str | os.PathLike | None = None,
    exporter: str = "auto",
    opset: int = DEFAULT_OPSET,
    metadata: Mapping[str, object] | None = None,
    parity: bool = True,
    batch_sizes: Sequence[int] = (1, 7),
    rtol: float = 1e-4,
    atol: float = 1e-5,
    seed: int = 0,
) -> ExportResult:
    """Export ``model`` (in eval mode, with its current weights) to a checked ONNX model.

    Takes the per-sample ``input_shape`` (no batch axis, e.g. ``(1, 8, 8)``); the ONNX
    input is ``input`` with shape ``(batch, *input_shape)``. ``metadata`` is written into
    ``metadata_props`` after the exporter's own keys (``score`` first if present).
    ``parity=False`` skips the onnxruntime comparison; it exists only so benchmarks can
    time the exporter alone, every writer of the platform keeps it on. Parity passes when
    ``max|ort - torch| <= atol + rtol * max|torch|`` for every output at every size in
    ``batch_sizes`` (relative to the output's scale).

    Returns an :class:`ExportResult`; writes a single self-contained file to ``path`` if
    given (atomically). Raises :class:`ExportError` if the exporter fails, the checker
    rejects the graph or parity fails (the message gives the errors and the tolerance).
    """
    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")
    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} is too old: ONNX-Bench files need opset >= {MIN_OPSET}")
    shape = tuple(int(d) for d in input_shape)
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        proto, used, errs, notes = _export_with_fallback(
            model, shape, exporter, opset, parity, batch_sizes, rtol, atol, seed
        )
    finally:
        model.train(was_training)
    set_metadata(proto, {**_export_metadata(proto, used, shape, errs, model), **(metadata or {})})
    written = save_onnx(proto, path) if path is not None else None
    return ExportResult(
        model=proto,
        exporter=used,
        opset=_opset_of(proto),
        seconds=time.perf_counter() - started,
        max_abs_err=errs[0],
        max_rel_err=errs[1],
        path=written,
        notes=tuple(notes),
    )


class ExportDeferred(Exception):
    """The model needs the dynamo exporter, which :func:`dynamo_deferred` keeps off this
    thread (see the module docstring): export it again outside that block."""


_THREAD = threading.local()


@contextlib.contextmanager
def dynamo_deferred() -> Iterator[None]:
    """In this block, on this thread, an export that would need the dynamo exporter
    raises :class:`ExportDeferred` (TorchScript exports run as usual)."""
    before = getattr(_THREAD, "defer_dynamo", False)
    _THREAD.defer_dynamo = True
    try:
        yield
    finally:
        _THREAD.defer_dynamo = before


def _export_with_fallback(model, shape, exporter, opset, parity, batch_sizes, rtol, atol, seed):
    """Run the chosen exporter(s); returns (proto, exporter used, (abs, rel) errors, notes)."""
    order = ["torchscript", "dynamo"] if exporter == "auto" else [exporter]
    notes: list[str] = []
    for name in order:
        try:
            proto = _run_exporter(name, model, shape, opset)
            _check(proto, name)
            errs = (
                _parity(proto, model, shape, batch_sizes, rtol, atol, seed, name)
                if parity
                else (float("nan"), float("nan"))
            )
            return proto, name, errs, notes
        except ExportError as exc:
            notes.append(f"{name}: {exc}")
    if len(notes) == 1:
        raise ExportError(notes[0].split(": ", 1)[1])
    raise ExportError("every exporter failed; " + "; ".join(notes))


def _run_exporter(name: str, model: nn.Module, shape: tuple[int, ...], opset: int):
    """Call one torch exporter on a random example of batch ``_TRACE_BATCH``."""
    if name == "dynamo" and getattr(_THREAD, "defer_dynamo", False):
        raise ExportDeferred("the dynamo exporter cannot run beside training")
    example = _random_input(model, shape, _TRACE_BATCH, seed=12345)
    outputs = _output_names(_forward(model, example))
    try:
        with _quiet():
            if name == "torchscript":
                proto = _torchscript(model, example, outputs, opset)
            else:
                proto = _dynamo(model, example, outputs, opset)
    except ExportError:
        raise
    except Exception as exc:  # torch raises many types here; all mean "cannot export"
        detail = f"{type(exc).__name__}: {first_line(exc)}"
        raise ExportError(f"{name} exporter failed: {detail}") from exc
    _buffers_as_constants(proto, {n for n, _ in model.named_buffers()})
    return proto


def _torchscript(model, example, outputs, opset) -> onnx.ModelProto:
    buf = io.BytesIO()
    axes = {n: {0: "batch"} for n in [INPUT_NAME, *outputs]}
    # The file keeps exactly the module's parameters (docs/export_store.md, cost figures):
    # keep_initializers_as_inputs stops the exporter from merging initializers of equal
    # values (an untrained net's LayerNorm ones and zeros; the extra graph inputs are
    # dropped below), and PRESERVE (the model is in eval mode) from folding a BatchNorm
    # into the Conv before it.
    torch.onnx.export(
        model, (example,), buf, dynamo=False, opset_version=opset,
        input_names=[INPUT_NAME], output_names=outputs, dynamic_axes=axes,
        do_constant_folding=True, keep_initializers_as_inputs=True,
        training=torch.onnx.TrainingMode.PRESERVE,
    )
    proto = onnx.load_model_from_string(buf.getvalue())
    _drop_initializer_inputs(proto)
    _alias_folded_copies(proto, set(model.state_dict()))
    return proto


def _drop_initializer_inputs(proto: onnx.ModelProto) -> None:
    """Remove the graph inputs that only repeat an initializer (IR >= 4 needs none)."""
    stored = {t.name for t in proto.graph.initializer}
    kept = [vi for vi in proto.graph.input if vi.name not in stored]
    del proto.graph.input[:]
    proto.graph.input.extend(kept)


def _alias_folded_copies(proto: onnx.ModelProto, named: set[str]) -> None:
    """Store once each tensor that constant folding wrote several times, as torch does.

    A weight used at several places (VersatileFFN's shared FFN) is transposed, and so
    folded, once per use. Torch's own pass (off with ``keep_initializers_as_inputs``)
    keeps the first copy and turns each later one into ``Identity(first)`` at the top
    of the graph; this does the same, in the same order, so files read exactly as
    before. Unlike torch's pass, it never merges two initializers named after the
    module's parameters or buffers: two parameters that hold equal values (an untrained
    net's LayerNorm ones) are still two parameters.
    """
    g = proto.graph
    # only shapes held by two tensors, one of them made by the exporter, can hold a copy
    kinds = [(t.data_type, tuple(t.dims)) for t in g.initializer]
    folded = {k for k, t in zip(kinds, g.initializer, strict=True) if t.name not in named}
    shared = {k for k, n in Counter(kinds).items() if n > 1} & folded
    unique: dict[tuple, str] = {}
    aliases: list[onnx.NodeProto] = []
    for kind, t in zip(kinds, g.initializer, strict=True):  # in torch's graph-input order
        if kind not in shared:
            continue
        key = (kind, t.raw_data or numpy_helper.to_array(t).tobytes())
        if key not in unique:
            unique[key] = t.name
        elif t.name not in named:
            aliases.insert(0, onnx.helper.make_node("Identity", [unique[key]], [t.name]))
    if aliases:
        gone = {n.output[0] for n in aliases}
        kept = [t for t in g.initializer if t.name not in gone]
        del g.initializer[:]
        g.initializer.extend(kept)
        nodes = [*aliases, *g.node]
        del g.node[:]
        g.node.extend(nodes)


def _buffers_as_constants(proto: onnx.ModelProto, buffers: set[str]) -> None:
    """Turn the initializers that hold torch buffers into ``Constant`` nodes.

    Initializers are the model's weights; a buffer (BatchNorm's running statistics,
    im2col's fixed one-hot kernel) is state the model does not learn. As ``Constant``
    nodes they run the same and stay out of the parameter count (nas/onnx_cost.py), so
    a file counts exactly the module's trainable parameters.
    """
    g = proto.graph
    moved = [t for t in g.initializer if t.name in buffers]
    if not moved:
        return
    kept = [t for t in g.initializer if t.name not in buffers]
    del g.initializer[:]
    g.initializer.extend(kept)
    constants = [onnx.helper.make_node("Constant", [], [t.name], name=f"{t.name}/constant",
                                       value=t) for t in moved]
    nodes = [*constants, *g.node]
    del g.node[:]
    g.node.extend(nodes)


def _dynamo(model, example, outputs, opset) -> onnx.ModelProto:
    program = torch.onnx.export(
        model, (example,), dynamo=True, opset_version=opset,
        input_names=[INPUT_NAME], output_names=outputs,
        dynamic_shapes=({0: torch.export.Dim("batch")},),
        external_data=False, optimize=True, verbose=False, report=False,
    )
    proto = program.model_proto
    _name_batch_axes(proto)
    return proto


def _name_batch_axes(proto: onnx.ModelProto) -> None:
    """Name the dynamic leading axis of graph inputs/outputs ``batch`` (dynamo says ``s0``)."""
    for value in [*proto.graph.input, *proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_param = "batch"


def _check(proto: onnx.ModelProto, exporter: str) -> None:
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise ExportError(
            f"{exporter} export fails onnx.checker: {first_line(exc)}"
        ) from exc


def _parity(proto, model, shape, batch_sizes, rtol, atol, seed, exporter) -> tuple[float, float]:
    """Largest abs/rel difference between onnxruntime and torch; ExportError beyond tolerance."""
    import onnxruntime as ort  # ~0.3 s to import: only a parity check needs it

    try:
        session = ort.InferenceSession(
            proto.SerializeToString(), _session_options(), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ExportError(
            f"onnxruntime cannot load the {exporter} export: {first_line(exc)}"
        ) from exc
    worst_abs = worst_rel = 0.0
    for batch in batch_sizes:
        x = _random_input(model, shape, batch, seed=seed + batch)
        refs = [t.detach().cpu().numpy() for t in _flatten(_forward(model, x))]
        try:
            outs = session.run(None, {INPUT_NAME: x.detach().cpu().numpy()})
        except Exception as exc:
            raise ExportError(
                f"onnxruntime fails at batch {batch} on the {exporter} export: {first_line(exc)}"
            ) from exc
        for ref, out in zip(refs, outs, strict=True):
            abs_err, rel_err, ok = _compare(ref, out, rtol, atol)
            worst_abs, worst_rel = max(worst_abs, abs_err), max(worst_rel, rel_err)
            if not ok:
                raise ExportError(
                    f"onnxruntime disagrees with torch at batch {batch} ({exporter} export): "
                    f"max abs err {abs_err:.3g}, max rel err {rel_err:.3g} "
                    f"(tolerance atol={atol:g} + rtol={rtol:g}*max|torch|)"
                )
    return worst_abs, worst_rel


def _compare(ref: np.ndarray, out: np.ndarray, rtol: float, atol: float):
    """(max abs err, max rel err, within tolerance) of ``out`` against ``ref``."""
    if ref.shape != out.shape:
        return float("inf"), float("inf"), False
    if ref.size == 0:
        return 0.0, 0.0, True
    ref64, out64 = ref.astype(np.float64), out.astype(np.float64)
    diff = np.abs(out64 - ref64)
    same_nan = np.isnan(ref64) & np.isnan(out64)
    diff = np.where(same_nan, 0.0, diff)
    abs_err = float(np.nanmax(np.where(np.isnan(diff), np.inf, diff)))
    # Relative to the output's scale, not element-wise: an element near zero in a deep
    # float32 net (e.g. stacked KAN layers) differs by rounding alone, far beyond 1e-4 of
    # itself, while the model is the same to 1e-4 of what it outputs.
    scale = float(np.max(np.abs(np.nan_to_num(ref64))))
    rel_err = abs_err / max(scale, float(np.finfo(np.float32).tiny))
    ok = bool(abs_err <= atol + rtol * scale)
    return abs_err, rel_err, ok


def _export_metadata(proto, exporter, shape, errs, model) -> dict[str, object]:
    meta: dict[str, object] = {
        "exporter": exporter,
        "opset": _opset_of(proto),
        "input_shape": "x".join(str(d) for d in shape),
        "dynamic_axes": "batch",
    }
    n = _pointer_length(proto, shape)
    if n is not None:
        meta["fixed_sequence_length"] = n
    if not np.isnan(errs[0]):
        meta["parity_max_abs_err"] = errs[0]
    return meta


def _pointer_length(proto: onnx.ModelProto, shape: tuple[int, ...]) -> int | None:
    """N when the first output is (batch, N, N) over the N input items (a pointer head)."""
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    sizes = [d.dim_value for d in dims[1:]]
    if len(sizes) == 2 and shape and sizes[0] == sizes[1] == shape[0] > 0:
        return sizes[0]
    return None


# --- small helpers -------------------------------------------------------------------


def _random_input(model: nn.Module, shape, batch: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, *shape), generator=gen)
    return x.to(_device_of(model))


def _forward(model: nn.Module, x: torch.Tensor):
    """The model's output on ``x``; ExportError if the model itself fails (not the export)."""
    try:
        with torch.no_grad():
            return model(x)
    except Exception as exc:
        shape = "x".join(str(d) for d in x.shape)
        raise ExportError(
            f"the model fails on an input of shape {shape} before export: "
            f"{type(exc).__name__}: {first_line(exc)}"
        ) from exc


def _device_of(model: nn.Module) -> torch.device:
    for tensor in [*model.parameters(), *model.buffers()]:
        return tensor.device
    return torch.device("cpu")


def _flatten(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, list | tuple):
        return [t for item in out for t in _flatten(item)]
    raise ExportError(
        f"model returns {type(out).__name__}; export needs a tensor or a tuple of tensors"
    )


def _output_names(out) -> list[str]:
    n = len(_flatten(out))
    return ["output"] if n == 1 else [f"output_{i}" for i in range(n)]


def _opset_of(proto: onnx.ModelProto) -> int:
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return 0


def _session_options():
    import onnxruntime as ort  # ~0.3 s to import: only a parity check needs it

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return opts


_NOISY_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "onnxscript", "torch._dynamo")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence exporter chatter: the legacy exporter's deprecation notice, tracer
    warnings (parity is the real check) and dynamo's info/warning logs."""
    levels = {n: logging.getLogger(n).level for n in _NOISY_LOGGERS}
    # sys.stdout is the process's: from a background thread (a search exports while it
    # trains, nas/search/exporter.py) redirecting it would swallow the main thread's output
    hush = (contextlib.redirect_stdout(io.StringIO())
            if threading.current_thread() is threading.main_thread()
            else contextlib.nullcontext())
    with warnings.catch_warnings(), hush:
        warnings.simplefilter("ignore")
        for n in _NOISY_LOGGERS:
            logging.getLogger(n).setLevel(logging.ERROR)
        try:
            yield
        finally:
            for n, level in levels.items():
                logging.getLogger(n).setLevel(level)
