"""Writing files so that a crash never leaves one half-written."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename is None:  # a full disk fails the write, which names no file
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def atomic_copy(source: Path, target: Path) -> None:
    """Copy a file (contents and times) so that `target` is the old file or the whole new one, never part."""
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        shutil.copy2(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def read_json(path: Path) -> Any | None:
    """The JSON in `path`, or None if it is missing or unreadable (a torn file counts as missing)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def set_aside(path: Path) -> Path:
    """Rename a torn file to `<name>.torn` beside it (kept for a post-mortem, out of every reader's way)."""
    torn = path.with_name(path.name + ".torn")
    os.replace(path, torn)
    return torn


def read_state(path: Path) -> tuple[Any | None, bool]:
    """(the JSON in `path` or None, whether the file was torn). A torn file is set aside as `*.torn`.

    "Missing" and "torn" must not read alike to a writer: a writer that took a torn index for an empty one
    would write back only what it adds, and everything the file held would be gone without a word.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, False
    try:
        return json.loads(data.decode("utf-8")), False
    except ValueError:  # not JSON, or garbage that is not even UTF-8 (UnicodeDecodeError is a ValueError)
        set_aside(path)
        return None, True


def replace_dir(new: Path, current: Path) -> None:
    """Put the finished directory `new` in the place of `current` in one step, then delete the old one.

    Where the kernel can (Linux renameat2 with RENAME_EXCHANGE) the two directories change places
    atomically, so a reader or a kill never finds `current` missing or half there; elsewhere it is two
    renames, microseconds apart.
    """
    if current.exists() and _exchange(new, current):
        _rmtree(new)  # it now holds the old directory
        return
    old = current.with_name(f".{current.name}.replaced")
    _rmtree(old)
    if current.exists():
        os.rename(current, old)
    os.rename(new, current)
    _rmtree(old)


def _exchange(a: Path, b: Path) -> bool:
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def describe_os_error(exc: OSError) -> str:
    """One line: the path and what the system said about it (`/srv/results/synth: Read-only file system`)."""
    what = exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        what += " (a file is where a directory is expected)"
    if exc.filename is None:
        return what
    return f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "") + f": {what}"


def publish_once(tmp: Path, final: Path) -> None:
    """Give `final` the content of `tmp` unless it already exists (another job made it first: keep that one)."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        pass
    except OSError:  # no hard links on this file system: a rename, still atomic, only if still missing
        if not final.exists():
            os.replace(tmp, final)
