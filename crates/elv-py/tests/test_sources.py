"""Sources other than a path: bytes, and any binary file-like object (what fsspec gives for a
URL), read by the ranges a tensor needs, never whole."""
import io
import pathlib

import numpy as np
import pytest

import elves
import elves.numpy as en

SAMPLE = pathlib.Path(__file__).resolve().parents[3] / "testdata" / "sample" / "minilm_sample.safetensors"


class Counting(io.BytesIO):
    """A file object that counts the bytes read from it."""

    def __init__(self, data):
        super().__init__(data)
        self.read_bytes = 0

    def read(self, n=-1):
        b = super().read(n)
        self.read_bytes += len(b)
        return b


@pytest.fixture(scope="module")
def elv_bytes(tmp_path_factory):
    z = tmp_path_factory.mktemp("sources") / "m.elv"
    elves.compress_file(SAMPLE, z)
    return z.read_bytes()


def test_bytes_file_objects_and_paths_read_the_same(elv_bytes, tmp_path):
    p = tmp_path / "m.elv"
    p.write_bytes(elv_bytes)
    want = en.load_file(p)
    for source in (elv_bytes, io.BytesIO(elv_bytes), open(p, "rb")):
        got = en.load_file(source)
        assert got.keys() == want.keys()
        assert all(np.array_equal(got[k], want[k]) for k in want)
    # load takes bytes or a file object too (never a path: that is load_file's).
    for source in (elv_bytes, io.BytesIO(elv_bytes)):
        got = en.load(source)
        assert all(np.array_equal(got[k], want[k]) for k in want)
    with pytest.raises(TypeError, match="load_file takes a path"):
        en.load(str(p))
    with elves.safe_open(io.BytesIO(elv_bytes)) as f:
        name = f.keys()[0]
        assert np.array_equal(f.get_tensor(name), want[name])


def test_one_tensor_reads_its_own_bytes_and_the_tables_only(elv_bytes):
    src = Counting(elv_bytes)
    with elves.safe_open(src) as f:
        opened = src.read_bytes
        name = max(f.keys(), key=lambda k: f.info(k)["stored_bytes"])
        small = min(f.keys(), key=lambda k: f.info(k)["stored_bytes"])
        before = src.read_bytes
        f.get_tensor(small)
        one = src.read_bytes - before
        assert one <= f.info(small)["stored_bytes"] + 64 * 1024, (one, f.info(small))
        before = src.read_bytes
        f.get_slice(name)[0:1]
        assert src.read_bytes - before <= f.info(name)["stored_bytes"] + 64 * 1024
    # The tables are what opening costs: far less than the file.
    assert opened < len(elv_bytes) // 4, (opened, len(elv_bytes))


def test_a_url_without_fsspec_names_what_is_missing(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_fsspec(name, *a, **k):
        if name == "fsspec":
            raise ImportError("no fsspec")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_fsspec)
    with pytest.raises(ImportError, match="fsspec"):
        elves.safe_open("https://example.invalid/m.elv")


def test_a_tensor_over_http_costs_its_stored_bytes_and_the_tables(elv_bytes):
    """Against a local HTTP server that honours Range requests, counting bytes sent."""
    pytest.importorskip("fsspec")
    pytest.importorskip("aiohttp")
    import http.server
    import threading

    sent = {"bytes": 0, "requests": 0}

    class Ranged(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_HEAD(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(elv_bytes)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()

        def do_GET(self):
            rng = self.headers.get("Range")
            start, end = 0, len(elv_bytes) - 1
            if rng and rng.startswith("bytes="):
                a, b = rng[6:].split("-")
                start, end = int(a), min(int(b) if b else end, end)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(elv_bytes)}")
            else:
                self.send_response(200)
            body = elv_bytes[start:end + 1]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            self.wfile.write(body)
            sent["bytes"] += len(body)
            sent["requests"] += 1

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ranged)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/m.elv"
        with elves.safe_open(url) as f:
            opened = sent["bytes"]
            name = max(f.keys(), key=lambda k: f.info(k)["stored_bytes"])
            before = sent["bytes"]
            t = f.get_tensor(name)
            one = sent["bytes"] - before
            stored = f.info(name)["stored_bytes"]
        want = en.load(elv_bytes)[name]
        assert np.array_equal(t, want)
        assert one <= stored + 64 * 1024, (one, stored)
        assert opened < len(elv_bytes) // 4, (opened, len(elv_bytes))
    finally:
        server.shutdown()


def test_a_load_reads_small_tensors_and_padding_together_not_one_by_one():
    # 300 small tensors lie one after another: loading them through a file object costs a
    # handful of reads (each would be a request over HTTP), not one or two per tensor.
    rng = np.random.default_rng(1)
    ts = {f"t{i:03d}": rng.standard_normal(50).astype(np.float32) for i in range(300)}
    data = en.save(ts)

    class CountingReads(io.BytesIO):
        reads = 0

        def read(self, n=-1):
            self.reads += 1
            return super().read(n)

    f = CountingReads(data)
    got = en.load(f)
    assert all(np.array_equal(got[k], ts[k]) for k in ts)
    assert f.reads <= 30, f.reads
