"""ONNX files that describe themselves: ``metadata_props`` (score first) and atomic saves.

No torch here, so that the store and the CLI read files without importing it.

ONNX-Net / ONNX-Bench readers take ``metadata_props[0].value`` as the model's accuracy,
so :func:`set_metadata` always writes the key ``score`` first. :func:`read_metadata`
reads the props back from a model, bytes, or a file (cheaply: the graph is skipped).
:func:`save_onnx` / :func:`write_atomic` never leave a half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from nas.errors import ExportError

__all__ = ["SCORE_KEY", "encode_metadata_value", "read_metadata", "save_onnx", "set_metadata",
           "write_atomic"]

SCORE_KEY = "score"
# protobuf refuses to serialise one message over 2 GiB; bigger models need external data.
_MAX_INLINE_BYTES = 2**31 - 2**26


# --- metadata ------------------------------------------------------------------------


def encode_metadata_value(value: object) -> str:
    """Text form of a metadata value: str as is, bool as true/false, float via repr
    (round-trips exactly), dict/list/tuple as sorted JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def set_metadata(
    model: onnx.ModelProto, metadata: Mapping[str, object], *, replace: bool = False
) -> onnx.ModelProto:
    """Write ``metadata`` into ``model.metadata_props`` (in place), key ``score`` first.

    Keys already there keep their position unless ``replace=True`` (then only
    ``metadata`` is kept); a value of ``None`` removes the key. Values are stored as text
    (see :func:`encode_metadata_value`). Returns ``model``.
    """
    merged: dict[str, str] = {} if replace else read_metadata(model)
    for key, value in metadata.items():
        if value is None:
            merged.pop(str(key), None)
        else:
            merged[str(key)] = encode_metadata_value(value)
    ordered = ([(SCORE_KEY, merged.pop(SCORE_KEY))] if SCORE_KEY in merged else [])
    ordered += list(merged.items())
    del model.metadata_props[:]
    for key, value in ordered:
        model.metadata_props.add(key=key, value=value)
    return model


def read_metadata(source: onnx.ModelProto | str | os.PathLike | bytes) -> dict[str, str]:
    """``metadata_props`` of a model, a file path or serialized bytes, in order, as text.

    For a path, only the top-level protobuf fields are scanned: the graph and its weights
    are skipped, not parsed, so this is cheap on large files. Raises :class:`ExportError`
    if the file is missing or not a well-formed ONNX model.
    """
    if isinstance(source, onnx.ModelProto):
        return {p.key: p.value for p in source.metadata_props}
    if isinstance(source, bytes):
        return _scan_metadata(source, "<bytes>")
    path = Path(source)
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                raise ExportError(f"{path} is empty, not an ONNX model")
            # mmap: the pages of the (possibly huge) graph field are never read
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
                return _scan_metadata(view, str(path))
    except OSError as exc:
        raise ExportError(f"cannot read ONNX file {path}: {exc.strerror}") from exc


_METADATA_FIELD = 14  # ModelProto.metadata_props
_GRAPH_FIELD = 7  # ModelProto.graph


def _scan_metadata(buf, name: str) -> dict[str, str]:
    """Walk ModelProto's top-level wire format in ``buf``, decoding only ``metadata_props``."""
    props: dict[str, str] = {}
    seen_graph = False
    pos, size = 0, len(buf)
    while pos < size:
        key, pos = _varint(buf, pos, name)
        field, wire = divmod(key, 8)
        if wire == 0:
            _, pos = _varint(buf, pos, name)
            continue
        if wire == 2:
            length, pos = _varint(buf, pos, name)
        elif wire in (1, 5):
            length = 8 if wire == 1 else 4
        else:
            raise ExportError(f"{name} is not an ONNX model (unexpected protobuf wire type {wire})")
        if pos + length > size:
            raise ExportError(f"{name} is truncated ({size} bytes, a field runs past the end)")
        if field == _METADATA_FIELD and wire == 2:
            entry = _metadata_entry(bytes(buf[pos:pos + length]), name)
            props[entry.key] = entry.value
        seen_graph |= field == _GRAPH_FIELD
        pos += length
    if not seen_graph:
        raise ExportError(f"{name} is not an ONNX model (no graph); is the file truncated?")
    return props


def _metadata_entry(data: bytes, name: str) -> onnx.StringStringEntryProto:
    try:
        return onnx.StringStringEntryProto.FromString(data)
    except DecodeError:
        raise ExportError(f"{name} is not a well-formed ONNX model (a metadata_props "
                          "entry is corrupt); is the file damaged?") from None


def _varint(buf, pos: int, name: str) -> tuple[int, int]:
    """(value, next position) of the protobuf varint at ``pos``."""
    result = shift = 0
    while pos < len(buf):
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ExportError(f"{name} is not an ONNX model (malformed protobuf)")
    raise ExportError(f"{name} is truncated (ends inside a protobuf field)")


# --- files ---------------------------------------------------------------------------


def save_onnx(model: onnx.ModelProto, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` as one self-contained file, atomically.

    The bytes go to a temporary file in the same directory, are fsync'ed and then
    renamed over ``path``, so a crash leaves either the old file or the new one, never
    half of one. Models too big for one protobuf (~2 GiB) are refused with ExportError.
    Returns the path.
    """
    target = Path(path)
    if model.ByteSize() > _MAX_INLINE_BYTES:
        raise ExportError(
            f"model is {model.ByteSize() / 2**30:.1f} GiB, over protobuf's 2 GiB single-file "
            "limit; save it with onnx.save_model(..., save_as_external_data=True) instead"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, model.SerializeToString())
    return target


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` via temp file + fsync + os.replace + directory fsync.

    The rename makes the write atomic for other processes and against a killed writer;
    the fsyncs (skipped when ``durable=False``) make it survive a power loss or OS crash.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; a shared store needs the umask's mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; not possible on every OS/filesystem, so best effort."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
