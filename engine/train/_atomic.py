"""Atomic file writes: a reader (or a crash) sees either the old file or the complete new one.

The recipe: write to a temporary file in the *same folder* (os.replace is only atomic within one
file system), flush Python's buffer and ``os.fsync`` the data to disk, ``os.replace`` it over the
target, then fsync the folder so that the rename itself survives a power cut. If anything fails
before the replace, the temporary file is removed and the previous file is untouched.

Two details a user would otherwise notice:
* a process killed mid-write (kill -9, power cut) cannot remove its temporary file. The name of
  each temporary file carries the writer's process id (``.<name>.<pid>.<random>.tmp``); the next
  write into the same folder removes those whose process no longer exists (and unparseable ones
  older than an hour), never a file another live process is writing;
* ``mkstemp`` creates files readable by their owner only (0600); the written file gets the mode
  any new file gets (0666 minus the umask, usually 0644), or keeps the mode of the file it replaces.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_text", "remove_stale_temporaries"]

_TMP = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")
_UNPARSEABLE_AGE_S = 3600.0


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else (or cannot tell): leave its file alone
    return True


def remove_stale_temporaries(folder) -> list[Path]:
    """Delete the temporary files of atomic writes into ``folder`` whose writer has died.

    Returns the removed paths. Files of live processes (this one included) are kept."""
    removed = []
    folder = Path(folder)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".tmp")) or not entry.is_file():
            continue
        match = _TMP.match(entry.name)
        try:
            stale = (not _process_exists(int(match.group(1)))) if match else \
                now - entry.stat().st_mtime > _UNPARSEABLE_AGE_S
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _new_file_mode() -> int:
    """0666 minus the process umask: the mode ``open()`` would give a new file."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)  # portable fallback (briefly changes the umask of this process)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":  # Windows cannot open a folder for fsync; the rename is durable there
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, write, binary: bool = True) -> Path:
    """Create or replace ``path`` atomically: ``write(f)`` receives an open temporary file.

    Returns the path. Exceptions from ``write`` propagate after the temporary file is removed.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    try:
        mode = os.stat(path).st_mode & 0o7777  # replacing a file keeps its permissions
    except OSError:
        mode = _new_file_mode()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
    return path


def atomic_write_text(path, text: str) -> Path:
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    return atomic_write(path, lambda f: f.write(text), binary=False)
