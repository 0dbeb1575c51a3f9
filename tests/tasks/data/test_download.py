"""tasks.data.download: resumable, MD5-checked, atomic downloads, tested against a local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import threading

import numpy as np
import pytest

from tasks.data.download import ChecksumError, DownloadError, ProgressBar, download, md5sum

CONTENT = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
CONTENT_MD5 = hashlib.md5(CONTENT).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range: bytes=N-`` only when ``server.support_range``."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        srv = self.server
        srv.log.append({"path": self.path, "range": self.headers.get("Range")})
        data = srv.files.get(self.path.split("?")[0])
        if data is None:
            self.send_error(404)
            return
        range_header = self.headers.get("Range")
        if range_header and srv.support_range:
            start = int(range_header.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.cut_after
        if cut is not None:  # simulate a dropped connection: announce everything, send a part
            srv.cut_after = None
            self.wfile.write(body[:cut])
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files = {"/data.bin": CONTENT}
    srv.support_range = True
    srv.cut_after = None
    srv.log = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/data.bin?download=1"
    yield srv
    srv.shutdown()
    srv.server_close()


def test_full_download_writes_verified_file_and_no_part(server, tmp_path, capsys):
    dest = tmp_path / "sub" / "data.bin"
    result = download(server.url, dest, md5=CONTENT_MD5)
    assert result == dest
    assert dest.read_bytes() == CONTENT
    assert not (tmp_path / "sub" / "data.bin.part").exists()
    assert server.log[0]["range"] is None
    err = capsys.readouterr().err
    assert "100%" in err and "data.bin" in err  # the progress bar went to stderr


def test_progress_false_is_quiet(server, tmp_path, capsys):
    download(server.url, tmp_path / "data.bin", md5=CONTENT_MD5, progress=False)
    assert capsys.readouterr().err == ""


def test_resume_asks_only_for_the_missing_bytes(server, tmp_path):
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(CONTENT[:100_000])
    download(server.url, dest, md5=CONTENT_MD5, progress=False)
    assert server.log[-1]["range"] == "bytes=100000-"
    assert dest.read_bytes() == CONTENT


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.support_range = False
    dest = tmp_path / "data.bin"
    # A wrong prefix proves the old bytes were discarded, not kept in front of the full body.
    (tmp_path / "data.bin.part").write_bytes(b"x" * 5000)
    download(server.url, dest, md5=CONTENT_MD5, progress=False)
    assert server.log[-1]["range"] == "bytes=5000-"
    assert dest.read_bytes() == CONTENT


def test_md5_mismatch_raises_and_leaves_no_file(server, tmp_path):
    dest = tmp_path / "data.bin"
    with pytest.raises(ChecksumError, match="MD5 mismatch"):
        download(server.url, dest, md5="0" * 32, progress=False)
    assert not dest.exists()
    assert not (tmp_path / "data.bin.part").exists()


def test_interrupted_download_keeps_part_and_next_call_resumes(server, tmp_path):
    dest = tmp_path / "data.bin"
    server.cut_after = 120_000
    with pytest.raises(DownloadError, match="truncated"):
        download(server.url, dest, md5=CONTENT_MD5, progress=False)
    assert not dest.exists()
    assert (tmp_path / "data.bin.part").stat().st_size == 120_000
    download(server.url, dest, md5=CONTENT_MD5, progress=False)
    assert server.log[-1]["range"] == "bytes=120000-"
    assert dest.read_bytes() == CONTENT


def test_complete_part_file_is_finalised_after_416(server, tmp_path):
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(CONTENT)
    download(server.url, dest, md5=CONTENT_MD5, progress=False)
    assert dest.read_bytes() == CONTENT


def test_resume_false_ignores_part_file(server, tmp_path):
    dest = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(b"junk")
    download(server.url, dest, md5=CONTENT_MD5, resume=False, progress=False)
    assert server.log[-1]["range"] is None
    assert dest.read_bytes() == CONTENT


def test_http_error_is_reported_with_url(server, tmp_path):
    missing = server.url.replace("data.bin", "missing.bin")
    with pytest.raises(DownloadError, match="404"):
        download(missing, tmp_path / "x.bin", progress=False)
    assert not (tmp_path / "x.bin").exists()


def test_md5sum_matches_hashlib(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(CONTENT)
    assert md5sum(path, chunk_size=4096) == CONTENT_MD5


def test_progress_bar_without_total_counts_bytes(capsys):
    bar = ProgressBar(None, desc="file", max_rate=1e9)
    bar.update(2048)
    bar.close()
    assert "2.0 KiB" in capsys.readouterr().err
