"""Finding, verifying and downloading dataset files (the download against a local HTTP server)."""

import gzip
import hashlib
import http.server
import io
import shutil
import threading
import zipfile
from functools import partial

import numpy as np
import pytest

from titans_seq.data import GenomicBenchmarksDataModule
from titans_seq.data.files import DataFile, file_sha256, load_manifest, locate

CONTENT = b"date,x\n2020-01-01 00:00:00,1.0\n"


@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def empty_places(tmp_path, monkeypatch):
    monkeypatch.delenv("TITANS_SEQ_DATA", raising=False)
    monkeypatch.setenv("TITANS_SEQ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.genomic_benchmarks of the machine's
    return tmp_path / "cache"


def mouse_archive() -> bytes:
    """A zip laid out as the genomic-benchmarks package's archives: 12 training and 4 test sequences a class."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for split, n in (("train", 12), ("test", 4)):
            for label in ("negative", "positive"):
                for i in range(n):
                    archive.writestr(f"dummy_mouse_enhancers_ensembl/{split}/{label}/{i}.txt",
                                     "".join(rng.choice(list("ACGT"), 40)))
    return buffer.getvalue()


def test_download_checks_sha256_and_lands_in_the_cache(server, empty_places):
    root, url = server
    (root / "toy.csv").write_bytes(CONTENT)
    toy = DataFile("toy", "toy/toy.csv.gz", f"{url}/toy.csv", hashlib.sha256(CONTENT).hexdigest())
    path = locate(toy)
    assert path == empty_places / "toy" / "toy.csv" and path.read_bytes() == CONTENT
    (root / "toy.csv").unlink()  # found in the cache the second time, no download
    assert locate(toy) == path


def test_a_compressed_download_is_checked_by_its_content(server, empty_places):
    """The manifests' SHA-256 is of the uncompressed CSV also where the URL serves the .gz (Weather)."""
    root, url = server
    (root / "toy.csv.gz").write_bytes(gzip.compress(CONTENT))
    toy = DataFile("toy", "toy/toy.csv.gz", f"{url}/toy.csv.gz", hashlib.sha256(CONTENT).hexdigest())
    path = locate(toy)
    assert path == empty_places / "toy" / "toy.csv.gz" and gzip.decompress(path.read_bytes()) == CONTENT
    assert [p.name for p in path.parent.iterdir()] == ["toy.csv.gz"]  # no partial file left


def test_a_corrupt_download_is_rejected_and_nothing_is_left(server, empty_places):
    root, url = server
    (root / "toy.csv").write_bytes(CONTENT + b"2020-01-01 01:00:00,2.0\n")
    toy = DataFile("toy", "toy/toy.csv", f"{url}/toy.csv", hashlib.sha256(CONTENT).hexdigest())
    with pytest.raises(ValueError, match="SHA-256"):
        locate(toy)
    assert not empty_places.exists() or not any(p.is_file() for p in empty_places.rglob("*"))


@pytest.mark.parametrize("damage", [lambda packed: packed[:len(packed) // 2], lambda packed: CONTENT])
def test_a_damaged_gzip_file_is_named_in_a_clear_error(tmp_path, damage):
    path = tmp_path / "toy.csv.gz"
    path.write_bytes(damage(gzip.compress(CONTENT * 1000)))
    toy = DataFile("toy", "toy/toy.csv.gz", "http://127.0.0.1:9/toy.csv.gz", hashlib.sha256(CONTENT).hexdigest())
    with pytest.raises(ValueError, match=r"toy.csv.gz is not the toy file: it does not read as gzip"):
        locate(toy, path)


class CutShort(http.server.BaseHTTPRequestHandler):
    """Sends half of ``CONTENT * 10`` and closes the connection: with its whole length announced (``/length``),
    or in chunks, the last one cut (``/chunked``)."""

    def do_GET(self):
        whole = CONTENT * 10
        self.send_response(200)
        if self.path == "/length":
            self.send_header("Content-Length", str(len(whole)))
            self.end_headers()
            self.wfile.write(whole[:len(whole) // 2])
        else:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n" % len(whole) + whole[:len(whole) // 2])
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_a_download_cut_short_or_of_a_bad_url_says_where_to_put_the_file(empty_places):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CutShort)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        served = f"http://127.0.0.1:{httpd.server_address[1]}"
        for url, reason in ((f"{served}/length", "IncompleteRead"), (f"{served}/chunked", "IncompleteRead"),
                            ("example.org/toy.csv", "unknown url type")):
            toy = DataFile("toy", "toy/toy.csv", url, hashlib.sha256(CONTENT * 10).hexdigest())
            with pytest.raises(FileNotFoundError, match=f"the download from {url} failed .*{reason}.*Put the file"):
                locate(toy)
    finally:
        httpd.shutdown()
    assert not empty_places.exists() or not any(p.is_file() for p in empty_places.rglob("*"))


def test_offline_error_says_where_to_put_the_file(empty_places):
    toy = DataFile("toy", "toy/toy.csv", "http://127.0.0.1:9/toy.csv", "0" * 64)
    with pytest.raises(FileNotFoundError, match=r"toy was not found .*toy/toy.csv.*TITANS_SEQ_DATA"):
        locate(toy)
    with pytest.raises(FileNotFoundError, match="downloading is switched off"):
        locate(toy, download=False)


def test_genomic_benchmarks_archive_is_downloaded_checked_and_unpacked_into_the_cache(server, empty_places):
    root, url = server
    archive = mouse_archive()
    (root / "mouse_v0.zip").write_bytes(archive)
    mirror = dict(archive_url=f"{url}/mouse_v0.zip?download=1",
                  archive_sha256=hashlib.sha256(archive).hexdigest().upper())  # a hash is read in either case
    data = GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", val_fraction=0.25, **mirror)
    data.setup()
    assert data.sizes == {"train": 18, "val": 6, "test": 8}
    unpacked = empty_places / "genomic_benchmarks" / "dummy_mouse_enhancers_ensembl"
    assert sorted(p.name for p in (empty_places / "genomic_benchmarks").iterdir()) == [unpacked.name]  # no zip kept
    assert sorted(p.name for p in unpacked.iterdir()) == ["test", "train"]
    (root / "mouse_v0.zip").unlink()  # the second time everything comes from the unpacked folders
    again = GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", val_fraction=0.25, **mirror)
    again.setup()
    assert again.records["test"] == data.records["test"]
    shutil.rmtree(unpacked / "test")  # a split missing is fetched too
    (root / "mouse_v0.zip").write_bytes(archive)
    GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", **mirror).setup()
    assert (unpacked / "test" / "positive").is_dir()
    shutil.rmtree(unpacked / "train" / "negative")  # so is a split lacking a class, which replaces it
    (root / "mouse_v0.zip").write_bytes(archive)
    repaired = GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", val_fraction=0.25, **mirror)
    repaired.setup()
    assert repaired.sizes == data.sizes and repaired.records["train"] == data.records["train"]


def test_two_processes_fetching_one_genomic_benchmark_both_end_with_its_splits(server, empty_places, monkeypatch):
    """DDP ranks set up side by side: the first to unpack removed the archive while another was unpacking it
    (FileNotFoundError or "is not a zip file"). Here one setup waits, after unpacking, for the other to find the
    archive; now the other waits for the lock instead, then finds the splits."""
    import titans_seq.data.genomics as genomics

    root, url = server
    archive = mouse_archive()
    (root / "mouse_v0.zip").write_bytes(archive)
    mirror = dict(archive_url=f"{url}/mouse_v0.zip", archive_sha256=hashlib.sha256(archive).hexdigest())
    first_unpacked, second_located = threading.Event(), threading.Event()
    real_unpack, real_locate = shutil.unpack_archive, genomics.locate

    def unpack(*args, **kwargs):
        real_unpack(*args, **kwargs)
        if threading.current_thread().name == "first":
            first_unpacked.set()
            second_located.wait(timeout=1.0)

    def locate(*args, **kwargs):
        path = real_locate(*args, **kwargs)
        if threading.current_thread().name == "second":
            second_located.set()
        return path

    monkeypatch.setattr(genomics.shutil, "unpack_archive", unpack)
    monkeypatch.setattr(genomics, "locate", locate)
    results = {}

    def set_up(name):
        try:
            data = GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", val_fraction=0.25, **mirror)
            data.setup()
            results[name] = data.sizes
        except Exception as error:  # the test reports what a rank raised
            results[name] = error

    first = threading.Thread(target=set_up, args=("first",), name="first")
    first.start()
    assert first_unpacked.wait(timeout=30)
    second = threading.Thread(target=set_up, args=("second",), name="second")
    second.start()
    first.join()
    second.join()
    assert results == {"first": {"train": 18, "val": 6, "test": 8}, "second": {"train": 18, "val": 6, "test": 8}}


def test_the_first_root_holding_a_split_wins_whatever_its_layout(tmp_path, empty_places):
    for root, base in ((empty_places / "genomic_benchmarks", "A"), (tmp_path / "mine", "C")):
        for split in ("train", "test"):
            if base == "A":  # the cache holds the package's folders
                for label in ("negative", "positive"):
                    folder = root / "dummy_mouse_enhancers_ensembl" / split / label
                    folder.mkdir(parents=True)
                    for i in range(10):
                        (folder / f"{i}.txt").write_text(base * 20)
            else:  # the caller's folder holds tables
                table = root / "dummy_mouse_enhancers_ensembl" / f"{split}.csv"
                table.parent.mkdir(parents=True, exist_ok=True)
                table.write_text("sequence,label\n" + "".join(f"{base * 20},{i % 2}\n" for i in range(20)))
    data = GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", data_dir=str(tmp_path / "mine"))
    data.setup()
    assert set(data.records["test"][1]) == {"C" * 20}


def test_a_genomic_benchmarks_archive_in_the_data_folder_is_unpacked_without_a_download(tmp_path, empty_places,
                                                                                       monkeypatch):
    archive = mouse_archive()
    folder = tmp_path / "data" / "genomic_benchmarks"
    folder.mkdir(parents=True)
    (folder / "dummy_mouse_enhancers_ensembl_v0.zip").write_bytes(archive)
    monkeypatch.setenv("TITANS_SEQ_DATA", str(tmp_path / "data"))
    data = GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", archive_url="http://127.0.0.1:9/none.zip",
                                       archive_sha256=hashlib.sha256(archive).hexdigest())
    data.setup()
    assert data.sizes["test"] == 8 and (empty_places / "genomic_benchmarks" / "dummy_mouse_enhancers_ensembl").is_dir()


def test_a_genomic_benchmarks_archive_is_fetched_only_with_its_hash_and_a_wrong_one_leaves_nothing(server,
                                                                                                empty_places):
    root, url = server
    (root / "mouse_v0.zip").write_bytes(mouse_archive())
    mirror = dict(archive_url=f"{url}/mouse_v0.zip")
    with pytest.raises(FileNotFoundError, match=r"no SHA-256 is known for its archive .* archive_sha256"):
        GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", **mirror).setup()
    with pytest.raises(ValueError, match=r"the download from .* is not .* came from archive_sha256="):
        GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", archive_sha256="0" * 64, **mirror).setup()
    with pytest.raises(ValueError, match="archive_sha256 must be 64 hexadecimal digits, got 'abc'"):
        GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", archive_sha256="abc", **mirror)
    assert not empty_places.exists() or not any(p.is_file() for p in empty_places.rglob("*"))
    with pytest.raises(FileNotFoundError, match="no train split found"):
        GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", download=False, **mirror).setup()
    # The right hash of an archive without the test split: refused before anything is unpacked.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as partial_archive:
        partial_archive.writestr("dummy_mouse_enhancers_ensembl/train/negative/0.txt", "ACGT")
    (root / "mouse_v0.zip").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match=r"does not hold dummy_mouse_enhancers_ensembl/\{train,test\}"):
        GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", **mirror,
                                    archive_sha256=hashlib.sha256(buffer.getvalue()).hexdigest()).setup()
    assert not (empty_places / "genomic_benchmarks" / "dummy_mouse_enhancers_ensembl").exists()


def test_data_folder_gzip_and_explicit_paths(tmp_path, monkeypatch):
    folder = tmp_path / "data" / "toy"
    folder.mkdir(parents=True)
    with gzip.open(folder / "toy.csv.gz", "wb") as f:
        f.write(CONTENT)
    toy = DataFile("toy", "toy/toy.csv.gz", "http://127.0.0.1:9/toy.csv", hashlib.sha256(CONTENT).hexdigest())
    monkeypatch.setenv("TITANS_SEQ_DATA", str(tmp_path / "data"))
    assert locate(toy) == folder / "toy.csv.gz"
    assert file_sha256(folder / "toy.csv.gz") == toy.sha256
    other = tmp_path / "other.csv"
    other.write_bytes(b"date,x\n")
    with pytest.raises(ValueError, match="is not the toy file"):
        locate(toy, path=other)
    assert locate(toy, path=other, verify=False) == other
    with pytest.raises(FileNotFoundError, match="no file at the given path"):
        locate(toy, path=tmp_path / "missing.csv")


def test_manifests_describe_every_dataset():
    for name in ("ETTh1", "ETTh2", "ETTm1", "ETTm2", "weather"):
        manifest = load_manifest(name)
        assert manifest.url.startswith("https://") and len(manifest.sha256) == 64
        assert {"rows", "columns", "license", "citation", "splits"} <= set(manifest.info)
    with pytest.raises(ValueError, match="no dataset manifest named 'ETTx'"):
        load_manifest("ETTx")
