"""Download one file over HTTP(S) safely: resumable, checksummed, atomic.

The recipe (the same one package managers use):

1. Bytes are written to ``<dest>.part``, never to ``dest`` itself, so an interrupted download can
   never be mistaken for a finished one.
2. If a ``.part`` file is left from an earlier attempt, ask the server for the rest only, with an
   HTTP Range request (RFC 9110, section 14): ``Range: bytes=<offset>-``. A server that honours it
   answers ``206 Partial Content``; one that ignores it answers ``200`` with the whole file, and we
   start again from byte 0.
3. When the body is complete, flush and ``fsync`` the ``.part`` file, check its MD5 against the
   published one, and only then ``os.replace`` it onto ``dest`` (atomic on POSIX and Windows).
   A wrong checksum deletes the ``.part`` file and leaves nothing at ``dest``.

Only the standard library (``urllib``) is used; the progress bar is a small tqdm-like line on
stderr that can be switched off.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO, TextIO

__all__ = ["ChecksumError", "DownloadError", "ProgressBar", "download", "md5sum"]

_CHUNK = 1 << 20  # 1 MiB: big enough for throughput, small enough for a lively progress bar
_USER_AGENT = "medgrad-downloader/0.1 (+urllib)"


class DownloadError(RuntimeError):
    """A download could not be completed (network error, truncated body, bad server answer)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected MD5."""


def md5sum(path: str | os.PathLike, chunk_size: int = _CHUNK) -> str:
    """Hex MD5 digest of a file, read in chunks so that multi-GB files need little memory."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class ProgressBar:
    """A one-line text progress bar (``|#####-----| 45% 12.3 MiB/27.0 MiB 3.1 MiB/s``).

    Writes carriage-return-refreshed lines to ``stream`` (stderr by default) at most ``max_rate``
    times per second; ``enabled=False`` makes every method a no-op.
    """

    def __init__(self, total: int | None, desc: str = "", initial: int = 0, enabled: bool = True,
                 stream: TextIO | None = None, width: int = 30, max_rate: float = 10.0):
        self.total = total
        self.desc = desc
        self.n = initial
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self._min_interval = 1.0 / max_rate
        self._start = time.monotonic()
        self._start_n = initial
        self._last_draw = -float("inf")

    def update(self, n_bytes: int) -> None:
        self.n += n_bytes
        now = time.monotonic()
        if now - self._last_draw >= self._min_interval:
            self._draw(now)

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        if not self.enabled:
            return
        self._last_draw = now
        rate = (self.n - self._start_n) / max(now - self._start, 1e-9)
        if self.total:
            frac = min(self.n / self.total, 1.0)
            filled = int(round(frac * self.width))
            bar = "#" * filled + "-" * (self.width - filled)
            text = (f"{self.desc} |{bar}| {frac:4.0%} {_human_bytes(self.n)}/{_human_bytes(self.total)} "
                    f"{_human_bytes(rate)}/s")
        else:  # unknown length: no bar, just a counter
            text = f"{self.desc} {_human_bytes(self.n)} {_human_bytes(rate)}/s"
        self.stream.write("\r" + text)
        self.stream.flush()


def _parse_content_range_start(value: str | None) -> int | None:
    """First byte position of a ``Content-Range: bytes <start>-<end>/<total>`` header, else None."""
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[len("bytes "):].split("-", 1)[0])
    except ValueError:
        return None


def _copy_body(response, f: BinaryIO, digest, bar: ProgressBar) -> int:
    """Stream the response body into ``f`` (and the MD5 state); return the number of bytes copied."""
    copied = 0
    while block := response.read(_CHUNK):
        f.write(block)
        digest.update(block)
        bar.update(len(block))
        copied += len(block)
    return copied


def download(url: str, dest_path: str | os.PathLike, md5: str | None = None, resume: bool = True,
             progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest_path`` (resumable, MD5-checked, atomic); return the final path.

    Args:
        url: http(s) address of the file.
        dest_path: where the finished file goes; parent folders are created. An existing file there
            is replaced only once the new one is complete and verified.
        md5: expected hex MD5 of the whole file, or None to skip the check.
        resume: continue a ``<dest>.part`` file left by an interrupted attempt (Range request).
        progress: draw a progress bar on stderr.
        timeout: socket timeout in seconds for connecting and for each read.

    Raises:
        ChecksumError: the MD5 differs (the ``.part`` file is deleted, ``dest`` is left untouched).
        DownloadError: network failure, HTTP error or truncated body. A partial ``.part`` file is
            kept so that calling again resumes where this attempt stopped.
    """
    dest = Path(dest_path)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if (resume and part.exists()) else 0

    headers = {"User-Agent": _USER_AGENT}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset > 0:
            # Range Not Satisfiable: the .part file is at least as long as the resource. It is
            # either already complete or garbage; verifying decides, else start over.
            err.close()
            if md5 is not None and md5sum(part) == md5.lower():
                return _finalize(part, dest)
            part.unlink()
            return download(url, dest, md5=md5, resume=False, progress=progress, timeout=timeout)
        raise DownloadError(f"download({url!r}): HTTP error {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"download({url!r}): cannot connect: {err}") from err

    with response:
        status = getattr(response, "status", None) or 200
        start = _parse_content_range_start(response.headers.get("Content-Range"))
        resuming = offset > 0 and status == 206 and start == offset
        if status == 206 and not resuming:
            # A partial body that does not start where our file ends cannot be placed: start afresh.
            part.unlink(missing_ok=True)
            raise DownloadError(f"download({url!r}): the server sent a range starting at {start}, "
                                f"not at byte {offset}; the partial file was deleted, call again")
        if not resuming:
            offset = 0  # the server sent the whole file (it ignored or does not support Range)
        length = response.headers.get("Content-Length")
        expected_body = int(length) if length is not None and length.isdigit() else None
        total = offset + expected_body if expected_body is not None else None

        digest = hashlib.md5(usedforsecurity=False)
        if resuming:  # the MD5 covers the whole file, so fold in the bytes we already have
            with open(part, "rb") as f:
                while block := f.read(_CHUNK):
                    digest.update(block)
        bar = ProgressBar(total, desc=dest.name, initial=offset, enabled=progress)
        try:
            with open(part, "ab" if resuming else "wb") as f:
                copied = _copy_body(response, f, digest, bar)
                f.flush()
                os.fsync(f.fileno())  # the bytes must be on disk before the rename makes them official
        except (OSError, http.client.HTTPException) as err:
            raise DownloadError(
                f"download({url!r}): interrupted after {bar.n} bytes ({err!r}); "
                f"the partial file {part} is kept, call again to resume") from err
        finally:
            bar.close()

    if expected_body is not None and copied != expected_body:
        raise DownloadError(
            f"download({url!r}): truncated body, got {copied} of {expected_body} bytes; "
            f"the partial file {part} is kept, call again to resume")
    if md5 is not None and digest.hexdigest() != md5.lower():
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"download({url!r}): MD5 mismatch for {dest.name}: expected {md5.lower()}, got "
            f"{digest.hexdigest()}; the corrupt download was deleted and {dest} was not written")
    return _finalize(part, dest)


def _finalize(part: Path, dest: Path) -> Path:
    """Atomically move the verified ``.part`` file into place (and persist the rename)."""
    os.replace(part, dest)
    if hasattr(os, "O_DIRECTORY"):  # POSIX: fsync the folder so the new name survives a crash
        fd = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return dest
