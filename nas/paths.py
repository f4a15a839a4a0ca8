"""Checking paths that come in from users, with one clear line when they are wrong.

Every command that takes a file or directory checks it here, so a wrong kind of path
(a directory where a file is expected, a file that is not UTF-8 text, an output path
that is a directory) reads the same everywhere. Each function takes the error class of
its caller's domain (``GrammarError``, ``TaskError``...) and a short name of what the
path is for (``"grammar file"``, ``"--out"``).
"""

from __future__ import annotations

import os
from pathlib import Path

from nas.errors import NasError

#: longest file name (one path component) common file systems take, in bytes
MAX_NAME_BYTES = 255


def user_path(path: str | os.PathLike, what: str = "path",
              error: type[NasError] = NasError) -> Path:
    """``path`` as a Path, refusing names no file system takes: a NUL byte (Python raises
    ValueError) or a component over :data:`MAX_NAME_BYTES` (the OS raises ENAMETOOLONG,
    even from ``Path.exists``); both would otherwise escape as unexpected errors."""
    text = os.fspath(path)
    if "\x00" in text:
        raise error(f"{what} {text!r} contains a NUL byte; check the path")
    for part in Path(text).parts:
        if len(os.fsencode(part)) > MAX_NAME_BYTES:
            raise error(f"{what} has a name longer than {MAX_NAME_BYTES} bytes "
                        f"({part[:24]}...); check the path")
    return Path(text)


def input_file(path: str | os.PathLike, what: str = "file",
               error: type[NasError] = NasError) -> Path:
    """``path`` as a Path if it is an existing regular file (or a pipe such as /dev/stdin).

    Raises:
        error: the path does not exist, or is a directory.
    """
    path = user_path(path, what, error)
    if path.is_dir():
        raise error(f"{what} {path} is a directory, expected a file")
    if not path.exists():
        raise error(f"{what} {path} does not exist; check the path")
    return path


def input_dir(path: str | os.PathLike, what: str = "directory",
              error: type[NasError] = NasError) -> Path:
    """``path`` as a Path if it is an existing directory.

    Raises:
        error: the path does not exist, or is a file.
    """
    path = user_path(path, what, error)
    if path.exists() and not path.is_dir():
        raise error(f"{what} {path} is a file, expected a directory")
    if not path.exists():
        raise error(f"{what} {path} does not exist; check the path")
    return path


def read_text(path: str | os.PathLike, what: str = "file",
              error: type[NasError] = NasError) -> str:
    """The UTF-8 text of an input file (a leading byte-order mark is dropped).

    Raises:
        error: missing, a directory, unreadable, or not UTF-8 text (naming the byte).
    """
    path = input_file(path, what, error)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    return decode_utf8(data, path, what, error)


def decode_utf8(data: bytes, path: str | os.PathLike, what: str = "file",
                error: type[NasError] = NasError) -> str:
    """``data`` (the bytes of ``path``) decoded as UTF-8, or one line saying where not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start:exc.start + 1].hex()
        raise error(f"{what} {path} is not UTF-8 text (byte 0x{byte} on line {line}): "
                    f"is it the right file? If it is text, save it as UTF-8") from None


def output_file(path: str | os.PathLike, what: str = "output file",
                error: type[NasError] = NasError, example: str = "out") -> Path:
    """``path`` as a Path where a file may be written: not a directory, and its parent
    (created if missing) is a directory.

    Raises:
        error: the path is a directory, or its parent is a file.
    """
    path = user_path(path, what, error)
    if path.is_dir():
        raise error(f"{what} {path} is a directory, expected a file path; name a file "
                    f"in it, e.g. {path / example}")
    parent = path.parent
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise error(f"cannot write {what} {path}: {folder} is a file, not a directory")
            break
    return path


def output_dir(path: str | os.PathLike, what: str = "output directory",
               error: type[NasError] = NasError) -> Path:
    """``path`` as a Path where a directory may be (or already is): not a file, and no
    file stands where one of its parents should be.

    Raises:
        error: the path, or one of its parents, is a file.
    """
    path = user_path(path, what, error)
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                where = "" if folder == path else f": {folder} is a file"
                raise error(f"{what} {path} is a file, expected a directory{where}"
                            if folder == path else f"cannot use {what} {path}{where}")
            break
    return path
