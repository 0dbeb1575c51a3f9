"""Run folders: unique, owned, and never shared.

A run writes only into a folder it created (or found empty), or into the folder it is resuming.
Three rules make that hold even with several runs started at once:

* a new folder is claimed with ``mkdir`` (atomic: of two runs asking for the same name, exactly one
  gets it); the default name carries the time to the microsecond and the process id;
* a folder given with ``--out`` must be new or empty; a folder that holds anything else is refused
  (a finished run, an interrupted run, or foreign files are never overwritten);
* while a run is writing, it holds an advisory lock on ``<run>/.lock`` (released by the operating
  system even on kill -9), so two processes can never resume the same run at once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from pathlib import Path

from tasks.errors import UsageError

try:  # POSIX; on other systems runs are not locked (folder claiming still is atomic)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

LOCK = ".lock"


def write_json_atomic(path, obj) -> None:
    """Write JSON to ``path`` via a temporary file and a rename: readers see the old or the new file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, default=_jsonable)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(path, text: str) -> None:
    """Write text to ``path`` via a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _jsonable(obj):
    # NumPy scalars and arrays reach metrics dicts easily; store them as plain numbers and lists
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"metrics: {type(obj).__name__} is not JSON-serialisable")


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files left by a write that was killed (they are never read)."""
    for tmp in Path(folder).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _check_parent(path: Path) -> None:
    for parent in [path, *path.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"run folder {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UsageError(f"run folder {path}: no permission to write in {parent}")
            return


def release_unused(run_dir: Path, created: bool) -> None:
    """Undo a claim when the run failed before producing anything (a user mistake found late):
    remove what the framework wrote, and the folder itself if this run created it."""
    for name in ("config.json", LOCK):
        with contextlib.suppress(FileNotFoundError):
            (run_dir / name).unlink()
    for sub in ("figures", "checkpoints"):
        with contextlib.suppress(OSError):
            (run_dir / sub).rmdir()  # only when empty
    if created:
        with contextlib.suppress(OSError):
            run_dir.rmdir()


def claim_new(out: str | None, default_name: str) -> Path:
    """Create (or take, if empty) the folder of a new run and return it."""
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{default_name}-{stamp}-{os.getpid()}"
        _check_parent(base)
        for attempt in range(1000):
            path = base if attempt == 0 else base.with_name(f"{base.name}-{attempt}")
            try:
                path.mkdir(parents=True)
                return path
            except FileExistsError:
                continue
        raise UsageError(f"could not create a new run folder next to {base}")  # pragma: no cover
    path = Path(out)
    _check_parent(path)
    try:
        path.mkdir(parents=True)
        return path
    except FileExistsError:
        pass
    if not path.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    contents = sorted(p.name for p in path.iterdir())
    if contents:
        if "config.json" in contents:
            state = "a finished run" if "metrics.json" in contents else "an unfinished run"
            hint = "" if "metrics.json" in contents else f" (continue it with: medgrad run --resume {out})"
            raise UsageError(f"--out {out}: holds {state}; choose another folder{hint}")
        raise UsageError(f"--out {out}: not empty ({', '.join(contents[:3])}{', ...' if len(contents) > 3 else ''}); "
                         f"a run writes only into a new or empty folder")
    return path


@contextlib.contextmanager
def locked(run_dir: Path):
    """Hold the run folder's lock for the duration of the block, or refuse if another process has it."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise UsageError(f"run folder {run_dir} is in use by another medgrad process") from None
            raise
        yield
    finally:
        os.close(fd)


def read_saved_config(run_dir: Path) -> dict:
    """The config.json of a run folder given to --resume, checked, or UsageError."""
    if not run_dir.is_dir():
        raise UsageError(f"--resume {run_dir}: no such folder")
    path = run_dir / "config.json"
    if not path.is_file():
        raise UsageError(f"--resume {run_dir}: no config.json there (not a medgrad run folder)")
    if (run_dir / "metrics.json").exists():
        raise UsageError(f"--resume {run_dir}: this run has already finished (metrics.json exists)")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"--resume {run_dir}: config.json is unreadable ({e})") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("experiment"), str):
        raise UsageError(f"--resume {run_dir}: config.json does not name an experiment")
    return saved
