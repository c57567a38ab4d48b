"""Finding files and downloading them, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from mlpspec import DataError
from mlpspec.builtins.datasets import mnist
from mlpspec.data import DataContext
from mlpspec.data.fetch import RemoteFile, find_or_fetch
from mlpspec.data.idx import write_idx


class Server:
    """Serves ``files`` (name -> bytes) on 127.0.0.1; ``truncate`` names files sent short."""

    def __init__(self, files: dict[str, bytes], truncate: set[str] = frozenset()):
        self.files, self.truncate, self.requests = files, truncate, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(self.path)
                if name not in server.files:
                    self.send_error(404)
                    return
                body = server.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if name in server.truncate else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_downloads_into_the_cache_with_a_verified_checksum(tmp_path):
    body = b"hello idx"
    with Server({"a.gz": body}) as server:
        ctx = DataContext(cache_dir=tmp_path / "cache")
        found = find_or_fetch("set", [RemoteFile("a.gz", md5(body))], ctx, [server.url])
        assert found["a.gz"] == tmp_path / "cache" / "set" / "a.gz"
        assert found["a.gz"].read_bytes() == body
        # a second call finds the cached file and asks nothing of the network
        find_or_fetch("set", [RemoteFile("a.gz", md5(body))], ctx, [server.url])
        assert len(server.requests) == 1


def test_bad_checksum_is_discarded_and_the_next_mirror_tried(tmp_path):
    good = b"the real file"
    with Server({"a.gz": b"tampered"}) as bad, Server({"a.gz": good}) as mirror:
        ctx = DataContext(cache_dir=tmp_path)
        found = find_or_fetch("set", [RemoteFile("a.gz", md5(good))], ctx, [bad.url, mirror.url])
        assert found["a.gz"].read_bytes() == good
        assert bad.requests and mirror.requests
    assert sorted(p.name for p in (tmp_path / "set").iterdir()) == ["a.gz"]


def test_truncated_download_leaves_no_partial_file(tmp_path):
    body = b"x" * 10000
    with Server({"a.gz": body}, truncate={"a.gz"}) as server:
        ctx = DataContext(cache_dir=tmp_path)
        with pytest.raises(DataError) as caught:
            find_or_fetch("set", [RemoteFile("a.gz", md5(body))], ctx, [server.url])
    assert "could not download a.gz" in str(caught.value)
    assert server.url in str(caught.value)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_every_mirror_failing_says_where_and_how_to_supply(tmp_path):
    with Server({}) as server:
        ctx = DataContext(cache_dir=tmp_path)
        with pytest.raises(DataError) as caught:
            find_or_fetch(
                "set", [RemoteFile("a.gz", "0" * 32)], ctx, [server.url, server.url + "x/"]
            )
    message = str(caught.value)
    # per mirror, its URL and why (a bare "404" could also be in the server's port)
    assert message.count(": 404 ") == 2 and "MLPSPEC_DATA_DIR" in message
    assert "looked in" in message and str(tmp_path / "set") in message


def test_no_download_allowed_lists_every_place_looked(tmp_path):
    ctx = DataContext(data_dirs=[tmp_path / "mine"], cache_dir=tmp_path / "cache", download=False)
    with pytest.raises(DataError) as caught:
        find_or_fetch("set", [RemoteFile("a.gz", "0" * 32)], ctx, ["http://127.0.0.1:9/"])
    message = str(caught.value)
    assert str(tmp_path / "mine" / "set") in message and str(tmp_path / "cache") in message
    assert "downloads are off" in message


def test_search_order_prefers_explicit_folders_and_accepts_uncompressed(tmp_path):
    for folder in ("first/set", "second"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "first" / "set" / "a").write_bytes(b"1")  # uncompressed, in a subfolder
    (tmp_path / "second" / "a.gz").write_bytes(b"2")
    ctx = DataContext(
        data_dirs=[tmp_path / "first", tmp_path / "second"],
        cache_dir=tmp_path / "c",
        download=False,
    )
    assert (
        find_or_fetch("set", [RemoteFile("a.gz", "")], ctx, [])["a.gz"]
        == tmp_path / "first" / "set" / "a"
    )
    ctx.data_dirs.reverse()
    assert (
        find_or_fetch("set", [RemoteFile("a.gz", "")], ctx, [])["a.gz"]
        == tmp_path / "second" / "a.gz"
    )


def test_mnist_downloads_from_a_mirror_the_spec_names(tmp_path):
    """The mnist dataset end to end over HTTP, with checksums of files made for the test."""
    import mlpspec.builtins.datasets as datasets

    files = {}
    arrays = {
        "train-images-idx3-ubyte.gz": np.zeros((6, 28, 28), np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(6, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": np.ones((2, 28, 28), np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.array([3, 4], np.uint8),
    }
    for name, array in arrays.items():
        write_idx(tmp_path / name, array)
        files[name] = (tmp_path / name).read_bytes()
        assert files[name][:2] == b"\x1f\x8b" and gzip.decompress(files[name])
    remote = [RemoteFile(name, md5(data)) for name, data in files.items()]
    original = datasets.MNIST_FILES
    datasets.MNIST_FILES = remote
    try:
        with Server(files) as server:
            params = datasets.DownloadParams(mirrors=[server.url])
            data = mnist(params, DataContext(cache_dir=tmp_path / "cache"))
    finally:
        datasets.MNIST_FILES = original
    assert data.x_train.shape == (6, 28, 28) and data.y_test.tolist() == [3, 4]
    assert Path(tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_the_real_mnist_checksums_are_those_of_the_public_files(mnist_dir):
    """Three shared files are byte-identical to the mirrors': their md5 must match ours."""
    from mlpspec.builtins.datasets import MNIST_FILES

    for remote in MNIST_FILES:
        if remote.name == "train-images-idx3-ubyte.gz":
            continue  # re-compressed copy (see shared/data/mnist/README.md)
        assert md5((mnist_dir / "mnist" / remote.name).read_bytes()) == remote.md5
