"""Dataset files: find them, check them, fetch them.

A file is looked for, in order: at an explicit path; under ``$TITANS_SEQ_DATA``; in the cache
directory (``$TITANS_SEQ_CACHE``, else ``$XDG_CACHE_HOME/titans_seq``, else ``~/.cache/titans_seq``);
then it is downloaded from its canonical URL into the cache, its SHA-256 checked before it is renamed
into place. Offline, the error says where to put the file. Every dataset's manifest (URL, SHA-256,
rows, columns, license, citation) is a YAML file in the repository's ``datasets/`` folder.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from titans_seq._io import replacing

__all__ = ["DataFile", "cache_dir", "compression", "file_sha256", "is_gzip", "load_manifest", "locate",
           "table_separator"]

# An installed package carries the manifests as titans_seq/datasets (see pyproject.toml); a checkout has them in
# its datasets/ folder.
_PACKAGE = Path(__file__).resolve().parents[1]
MANIFEST_DIR = _PACKAGE / "datasets" if (_PACKAGE / "datasets").is_dir() else _PACKAGE.parent / "datasets"


@dataclass(frozen=True)
class DataFile:
    """One dataset file as the manifest describes it.

    ``path`` is relative to a data folder (``ett/ETTh1.csv.gz``); a plain ``.csv`` of the same name is
    accepted too. ``sha256`` is the hash of the uncompressed content, so a file and its gzip agree.
    """

    name: str
    path: str
    url: str
    sha256: str
    info: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def candidates(self) -> list[str]:
        """Relative paths the file may have: as listed, and uncompressed."""
        names = [self.path]
        if self.path.endswith(".gz"):
            names.append(self.path[: -len(".gz")])
        return names


def load_manifest(name: str) -> DataFile:
    """The manifest ``datasets/<name>.yaml`` as a :class:`DataFile`."""
    path = MANIFEST_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in MANIFEST_DIR.glob("*.yaml"))
        raise ValueError(f"no dataset manifest named {name!r}; known: {', '.join(known)}")
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    return DataFile(values["name"], values["file"], values["url"], values["sha256"], values)


def cache_dir() -> Path:
    """Where downloaded files are kept."""
    if os.environ.get("TITANS_SEQ_CACHE"):
        return Path(os.environ["TITANS_SEQ_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "titans_seq"


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether the file at ``path`` is gzip-compressed, by its first two bytes (whatever its name: ``.bgz``,
    ``.GZ``, none)."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def compression(path: str | os.PathLike) -> str | None:
    """How pandas is to read the file at ``path``: ``"gzip"`` where its bytes are gzip's, plain text where only its
    name says so, else by its name (bz2, xz, zip)."""
    if is_gzip(path):
        return "gzip"
    return None if Path(path).suffix.lower() in (".gz", ".gzip", ".bgz") else "infer"


def table_separator(path: str | os.PathLike) -> str:
    """The column separator of a table file by its name: a tab for ``.tsv`` and ``.tab`` (gzipped too), else a
    comma."""
    suffixes = {suffix.lower() for suffix in Path(path).suffixes}
    return "\t" if ".tsv" in suffixes or ".tab" in suffixes else ","


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's content, read through gzip when the name ends in ``.gz``."""
    digest = hashlib.sha256()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, data_file: DataFile, what: str | None = None) -> Path:
    try:
        actual = file_sha256(path)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:  # a truncated or mislabelled .gz
        raise ValueError(f"{what or path} is not the {data_file.name} file: it does not read as gzip ({error}). "
                         f"Replace it with the original from {data_file.url}.") from None
    if actual != data_file.sha256:
        raise ValueError(f"{what or path} is not the {data_file.name} file: its SHA-256 is {actual}, expected "
                         f"{data_file.sha256}. Replace it with the original from {data_file.url}.")
    return path


def _download(data_file: DataFile, target: Path) -> Path:
    # The partial file ends as the target does, so that file_sha256 reads a .gz through gzip in both.
    with replacing(target, suffix=".part.gz" if target.name.endswith(".gz") else ".part") as tmp:
        try:
            with open(tmp, "wb") as out, urllib.request.urlopen(data_file.url, timeout=60) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                missing = getattr(response, "length", None)  # what an HTTP response announced and did not send
                if missing:
                    raise http.client.IncompleteRead(b"", missing)
        except (http.client.HTTPException, ValueError) as error:  # a response cut short; a URL urllib cannot open
            raise urllib.error.URLError(f"{type(error).__name__}: {error}") from error
        _verified(tmp, data_file, f"the download from {data_file.url}")
    return target


def locate(data_file: DataFile | str, path: str | os.PathLike | None = None, download: bool = True,
           verify: bool = True) -> Path:
    """Path of a verified copy of ``data_file`` (a :class:`DataFile` or a manifest name).

    Raises ``FileNotFoundError`` saying where to put the file when it is nowhere and cannot be fetched,
    and ``ValueError`` when a file is found but its SHA-256 is not the manifest's. ``verify=False``
    accepts an explicitly given ``path`` as it is (a subset or an edited copy of the dataset).
    """
    if isinstance(data_file, str):
        data_file = load_manifest(data_file)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{data_file.name}: no file at the given path {path}")
        return _verified(path, data_file) if verify else path
    roots = [Path(os.environ["TITANS_SEQ_DATA"])] if os.environ.get("TITANS_SEQ_DATA") else []
    roots.append(cache_dir())
    for root in roots:
        for relative in data_file.candidates:
            if (root / relative).is_file():
                return _verified(root / relative, data_file)
    # The download keeps the URL's file name where it is one of the candidates (a .csv or the .csv.gz itself),
    # else takes the manifest's, so that the next look finds it.
    served = urllib.parse.urlsplit(data_file.url).path.rsplit("/", 1)[-1]
    name = served if served in {Path(c).name for c in data_file.candidates} else Path(data_file.path).name
    target = cache_dir() / Path(data_file.path).parent / name
    if download:
        try:
            return _download(data_file, target)
        except (urllib.error.URLError, OSError) as error:
            reason = f"the download from {data_file.url} failed ({error})"
    else:
        reason = "downloading is switched off"
    places = ", ".join(str(r / data_file.path) for r in roots)
    raise FileNotFoundError(
        f"{data_file.name} was not found ({places}) and {reason}. Put the file (SHA-256 of its content "
        f"{data_file.sha256}) at one of those places, set TITANS_SEQ_DATA to the folder that holds "
        f"{data_file.path}, or pass its path explicitly."
    )
