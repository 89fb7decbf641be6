"""Labelled DNA sequences for classification: Genomic Benchmarks, FASTA files, sequence tables.

Class names are the sorted distinct labels of the training split (as strings); the model stores them.
Training batches may be reverse-complemented at random (``rc_augment``), a strand-symmetric
augmentation; validation and test never are.
"""

from __future__ import annotations

import numbers
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, train_test_split
from torch import Tensor, nn
from torch.utils.data import Dataset

from titans_seq._checks import is_int, is_positive_number, nonnegative_int, positive_int
from titans_seq._io import folder_lock
from titans_seq.data.dna import (
    PAD,
    DNATokenizer,
    label_regex,
    read_fasta_per_class,
    read_labelled_fasta,
    read_sequence_table,
    read_sequences,
)
from titans_seq.data.files import DataFile, cache_dir, load_manifest, locate
from titans_seq.data.splits import SplitDataModule

__all__ = ["FastaDataModule", "GenomicBenchmarksDataModule", "SequenceCSVDataModule", "SequenceDataModule",
           "SequenceDataset", "cross_validation_fold", "interleaved_order", "stratified_split"]

Records = tuple[list[str], list[str], list]  # ids, sequences, labels


def _shares(name: str, fractions, counts: tuple[int, ...] = (3,)) -> tuple[float, ...]:
    """``fractions`` as a tuple, checked to hold the train, validation (and test) shares: positive numbers
    summing to 1, as many as one of ``counts`` (the DataModules' three: the test split cannot be left out)."""
    fractions = tuple(fractions)
    if (len(fractions) not in counts or not all(is_positive_number(f) for f in fractions)
            or abs(sum(fractions) - 1) > 1e-9):
        many = " or ".join({2: "two", 3: "three"}[count] for count in counts)
        raise ValueError(f"{name} must be {many} positive shares (train, validation, test) summing to 1, "
                         f"got {fractions}")
    return fractions


def stratified_split(records: Records, fractions: tuple[float, ...], seed: int) -> dict[str, Records]:
    """Split records into ``"train"``, ``"val"`` (and ``"test"``) parts of the given two (or three)
    fractions, summing to 1, each with the same class mix."""
    fractions = _shares("fractions", fractions, (2, 3))
    index = np.arange(len(records[0]))
    labels = np.asarray([str(label) for label in records[2]])
    parts, rest, left = [], index, 1.0
    for fraction in fractions[:-1]:
        try:
            take, rest = train_test_split(rest, train_size=fraction / left, stratify=labels[rest], random_state=seed)
        except ValueError as error:
            sizes = {str(name): int(count) for name, count in zip(*np.unique(labels, return_counts=True), strict=True)}
            raise ValueError(f"cannot split {len(index)} records of classes {sizes} into parts of {fractions} "
                             f"with every class in every part: {error}") from error
        parts.append(np.sort(take))
        left -= fraction
    parts.append(np.sort(rest))
    return {split: tuple([column[i] for i in part] for column in records)
            for split, part in zip(("train", "val", "test"), parts, strict=False)}


def interleaved_order(labels: list, seed: int) -> np.ndarray:
    """A seeded order of examples with these labels in which the classes are interleaved: every prefix holds each
    class in about its share, and one as long as the number of classes holds every class. Within a class the order
    is random; a class's ``r``-th of ``count`` examples comes at about ``r / count`` of the way through."""
    shuffled = np.random.default_rng(seed).permutation(len(labels))
    _, codes, counts = np.unique([str(labels[i]) for i in shuffled], return_inverse=True, return_counts=True)
    rank = np.empty(len(codes))
    for code, count in enumerate(counts):
        rank[codes == code] = np.arange(count) / count
    return shuffled[np.argsort(rank, kind="stable")]


def cross_validation_fold(splits: dict[str, Records], folds: int, fold: int, seed: int) -> dict[str, Records]:
    """Fold ``fold`` (0-based) of a stratified, seeded ``folds``-fold cross-validation over the development
    sequences, the ``"train"`` and ``"val"`` splits pooled: that fold becomes the validation split and the
    other folds the training split. The ``"test"`` split is returned as it is."""
    pooled = tuple(train + val for train, val in zip(splits["train"], splits["val"], strict=True))
    labels = [str(label) for label in pooled[2]]
    count, rarest = min((labels.count(name), name) for name in set(labels))
    if count < folds:
        raise ValueError(f"cv_folds={folds} needs at least {folds} training and validation sequences of every "
                         f"class; class {rarest!r} has {count}")
    kfold = StratifiedKFold(folds, shuffle=True, random_state=seed)
    train, val = list(kfold.split(np.zeros(len(labels)), labels))[fold]
    return {**splits, **{split: tuple([column[i] for i in part] for column in pooled)
                         for split, part in (("train", train), ("val", val))}}


class SequenceDataset(Dataset):
    """Token ids of each sequence, cropped to ``max_length`` (not padded: :func:`pad_batch` pads a batch to its
    longest), with the class index (``tokens`` are kept as given, ``np.uint8`` by the DataModules; items are
    int64)."""

    def __init__(self, tokens: list[np.ndarray], targets: np.ndarray, max_length: int, tokenizer: DNATokenizer,
                 rc_augment: bool = False):
        self.tokens, self.targets = tokens, torch.as_tensor(targets, dtype=torch.long)
        self.max_length, self.tokenizer, self.rc_augment = max_length, tokenizer, rc_augment

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.tokens[i]
        if len(ids) > self.max_length:
            ids = self.tokenizer.fit_length(ids, self.max_length)
        ids = torch.from_numpy(ids.astype(np.int64))
        if self.rc_augment and torch.rand(()) < 0.5:
            ids = self.tokenizer.reverse_complement_ids(ids)
        return ids, self.targets[i]


def pad_batch(items: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """A batch of ``(ids, class)`` items, the ids padded with ``PAD`` to the batch's longest: a batch padded to the
    longest sequence of the whole set ran 33 times slower beside one sequence of 20 kb among 50k of 200-500 bases.
    (The encoders mask padding, the k-mer and position terms skip it, and the CNN pads to its ``max_length``.)"""
    ids, targets = zip(*items, strict=True)
    return nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=PAD), torch.stack(targets)


class SequenceDataModule(SplitDataModule):
    """Train / validation / test sequences, tokenised, as batches of ``(ids (B, L), class (B,))``, each padded to
    its own longest sequence (:func:`pad_batch`).

    Args:
        max_length: length longer sequences are cropped to (default: the longest training sequence).
        batch_size, num_workers: DataLoader settings. rc_augment: random reverse complements in training.
        seed: for every random split. iupac, crop: see :class:`~titans_seq.data.dna.DNATokenizer`.
        cv_folds, cv_fold: when ``cv_folds`` >= 2, the training and validation sequences are pooled and fold
            ``cv_fold`` (0-based) of a stratified ``cv_folds``-fold split of them, seeded, becomes the
            validation split (:func:`cross_validation_fold`): for choosing settings on more sequences than
            one validation split has. The test split does not change.
        predict_path: sequences for ``predict`` to classify instead of the test split: a FASTA/FASTQ file, or a
            CSV/TSV table with a ``sequence`` column, an optional ``id`` column and, if they are known, a ``label``
            column, whose labels the predictions then show.
        validation_limit: at most this many validation sequences (default: all), each class in about its share
            (:meth:`validation_subset`), which bounds validation on a large set.
    """

    def __init__(self, max_length: int | None = None, batch_size: int = 64, rc_augment: bool = True, seed: int = 0,
                 iupac: str = "n", crop: str = "center", num_workers: int = 0, cv_folds: int = 0, cv_fold: int = 0,
                 predict_path: str | None = None, validation_limit: int | None = None):
        super().__init__(validation_limit)
        self.collate = pad_batch
        if predict_path is not None and not isinstance(predict_path, (str, os.PathLike)):
            raise TypeError(f"predict_path must be a file's path or None, got {type(predict_path).__name__}")
        if max_length is not None and (not is_int(max_length) or max_length < 1):
            raise ValueError(f"max_length must be a positive integer or None, got {max_length!r}")
        for name, value in (("cv_folds", cv_folds), ("cv_fold", cv_fold)):
            if not is_int(value):
                raise TypeError(f"{name} must be an integer, got {value!r}")
        max_length = None if max_length is None else int(max_length)  # numpy's integers as Python's
        cv_folds, cv_fold = int(cv_folds), int(cv_fold)
        if cv_folds == 1 or cv_folds < 0:
            raise ValueError(f"cv_folds must be 0 (no cross-validation) or at least 2, got {cv_folds}")
        if not 0 <= cv_fold < max(cv_folds, 1):
            raise ValueError(f"cv_fold must be in [0, {max(cv_folds, 1)}) for cv_folds={cv_folds}, got {cv_fold}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
            raise ValueError(f"seed must be an integer in [0, 2**32), as scikit-learn's splits take, got {seed!r}")
        seed = int(seed)  # numpy's integers too
        batch_size, num_workers = positive_int("batch_size", batch_size), nonnegative_int("num_workers", num_workers)
        self.cv_folds, self.cv_fold = cv_folds, cv_fold
        self.max_length, self.batch_size, self.rc_augment = max_length, batch_size, rc_augment
        self.seed, self.num_workers, self.predict_path = seed, num_workers, predict_path
        self.tokenizer = DNATokenizer(iupac=iupac, crop=crop)
        self.class_names: list[str] | None = None
        self.columns = ("sequence", "label")  # of tables, predict_path's among them

    def load_splits(self) -> dict[str, Records]:
        """``{"train": ..., "val": ..., "test": ...}`` records (subclasses)."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.class_names is not None:
            return
        splits = self.load_splits()
        if self.cv_folds:
            splits = cross_validation_fold(splits, self.cv_folds, self.cv_fold, self.seed)
        # Validation in a seeded order with the classes interleaved: files list one class after another, and so
        # would a split, where a partial validation (Lightning's limit_val_batches, validation_limit) would see a
        # single class. The test split keeps file order.
        order = interleaved_order(splits["val"][2], self.seed)
        splits["val"] = tuple([column[i] for i in order] for column in splits["val"])
        self.class_names = self.class_order({str(label) for label in splits["train"][2]})
        if len(self.class_names) < 2:
            raise ValueError(f"the training split has a single class ({self.class_names}); classification needs two")
        index = {name: i for i, name in enumerate(self.class_names)}
        self.records, self.datasets = splits, {}
        if self.predict_path is not None:
            self.records["predict"] = read_sequences(self.predict_path, *self.columns)
        # As bytes: token ids of int64 took 8 times the memory of the sequences' text (534 MiB for 70 Mb of bases)
        tokens = {split: [self.tokenizer.encode(s, name, np.uint8) for name, s in zip(ids, seqs, strict=True)]
                  for split, (ids, seqs, _) in self.records.items()}
        if self.max_length is None:
            self.max_length = max(len(t) for t in tokens["train"])
        for split, (ids, _, labels) in self.records.items():
            if split == "predict":  # its labels, where it has them, are shown beside the predictions, not learned
                targets = np.full(len(ids), -1)
            else:
                unknown = sorted({str(label) for label in labels} - set(index))
                if unknown:
                    raise ValueError(f"the {split} split has labels not seen in training: {unknown}")
                targets = np.array([index[str(label)] for label in labels])
            self.datasets[split] = SequenceDataset(tokens[split], targets, self.max_length, self.tokenizer,
                                                   rc_augment=self.rc_augment and split == "train")

    def class_order(self, names: set[str]) -> list[str]:
        """The training split's class names in the order of their indices: sorted (subclasses may fix another)."""
        return sorted(names)

    def validation_subset(self, size: int, limit: int) -> list[int]:
        """The first ``limit`` validation sequences: their classes are interleaved (:func:`interleaved_order`), so
        each class is there in about its share, and every class once ``limit`` reaches the number of classes."""
        return list(range(min(limit, size)))

    @property
    def predict_split(self) -> str:
        """What ``predict`` classifies: ``"predict"`` (the sequences of ``predict_path``) or ``"test"``."""
        return "test" if self.predict_path is None else "predict"

    def predict_dataloader(self):
        """The sequences of ``predict_path``, or else the test split, in order (``predict`` classifies them)."""
        return self._loader(self.predict_split, False)

    @property
    def sizes(self) -> dict[str, int]:
        """Sequences in each split (those of ``predict_path`` are none)."""
        return {split: len(d) for split, d in self.datasets.items() if split != "predict"}


class GenomicBenchmarksDataModule(SequenceDataModule):
    """A Genomic Benchmarks dataset (Grešová et al., BMC Genomic Data 2023), by ``protocol``:

    - ``"official"``: the official train and test splits, validation carved from train
      (``val_fraction``, stratified, seeded). Needs both splits: ``<root>/<name>/{train,test}.csv(.gz)``
      (``sequence,label``) or the ``genomic-benchmarks`` package's folders ``<root>/<name>/{train,test}/<class>/*.txt``,
      with ``<root>`` = ``data_dir``, ``$TITANS_SEQ_DATA/genomic_benchmarks``, the cache's ``genomic_benchmarks``
      folder or ``~/.genomic_benchmarks``. Where they are missing and ``download`` is on, the package's own
      archive of the dataset (``<name>_v0.zip``, both splits; Zenodo record 16605299, or ``archive_url``) is
      fetched into the cache, its SHA-256 checked against ``archive_sha256`` or the manifest's before it is
      unpacked there. The manifest pins no archive's hash yet (they could not be fetched where it was
      written): until it does, pass the hash of an archive you have checked.
    - ``"local"``: only the split that is present (``split_present``, the test split here) is carved into
      train / validation / test by ``local_fractions`` (stratified, seeded). Its numbers are not comparable
      to published official-protocol numbers; it must be chosen explicitly.

    Integer labels are mapped to the dataset's class names in alphabetical order (as the benchmark's
    Hugging Face mirrors number them).
    """

    def __init__(self, name: str, protocol: str = "official", data_dir: str | None = None,
                 val_fraction: float = 0.1, local_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
                 split_present: str = "test", download: bool = True, archive_url: str | None = None,
                 archive_sha256: str | None = None, **kwargs):
        if protocol not in ("official", "local"):
            raise ValueError(f"protocol must be 'official' or 'local', got {protocol!r}")
        if not is_positive_number(val_fraction) or val_fraction >= 1:
            raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
        super().__init__(**kwargs)
        manifest = load_manifest("genomic_benchmarks")
        if name not in manifest.info["datasets"]:
            raise ValueError(f"unknown Genomic Benchmarks dataset {name!r}; known: "
                             f"{', '.join(sorted(manifest.info['datasets']))}")
        self.name, self.protocol, self.data_dir = name, protocol, data_dir
        self.val_fraction, self.local_fractions = val_fraction, _shares("local_fractions", local_fractions)
        self.split_present, self.download = split_present, download
        self.info = manifest.info["datasets"][name]
        given = archive_sha256 is not None
        sha256 = (archive_sha256 if given else self.info.get("archive_sha256") or "").strip().lower()
        if sha256 and (len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256)):
            raise ValueError(f"archive_sha256 must be 64 hexadecimal digits, got {archive_sha256!r}")
        self.archive_hash_from = "archive_sha256=" if given else "datasets/genomic_benchmarks.yaml"
        self.archive = DataFile(f"{name} archive", f"genomic_benchmarks/{name}_v0.zip",
                                archive_url or manifest.info["archive_url"].format(name=name), sha256)

    def _roots(self) -> list[Path]:
        roots = [Path(self.data_dir)] if self.data_dir else []
        if os.environ.get("TITANS_SEQ_DATA"):
            roots.append(Path(os.environ["TITANS_SEQ_DATA"]) / "genomic_benchmarks")
        return [*roots, cache_dir() / "genomic_benchmarks", Path.home() / ".genomic_benchmarks"]

    def _find_split(self, split: str) -> Path | None:
        """Where the split is, in the first root that has it: the package's folder ``<root>/<name>/<split>``
        (a subfolder per class) or a table ``<root>/<name>/<split>.csv(.gz)``; ``None`` if nowhere."""
        for root in self._roots():
            folder = root / self.name / split
            if self._holds_every_class(folder):
                return folder
            for suffix in (".csv.gz", ".csv"):
                if (root / self.name / f"{split}{suffix}").is_file():
                    return root / self.name / f"{split}{suffix}"
        return None

    def _holds_every_class(self, folder: Path) -> bool:
        """``folder`` is a split as the package lays it out: a subfolder per class."""
        return folder.is_dir() and all((folder / c).is_dir() for c in self.info["classes"])

    def _fetch_archive(self) -> None:
        """Download (or find) the dataset's archive, check its SHA-256 and unpack its split folders into the
        cache, each renamed into place whole; one process at a time, where processes (DDP ranks) share the cache:
        one unpacks and removes the archive, the others find the splits."""
        with folder_lock(cache_dir() / "genomic_benchmarks"):
            if self._find_split("train") is None or self._find_split("test") is None:
                self._unpack_archive()

    def _unpack_archive(self) -> None:
        if not self.archive.sha256:
            raise FileNotFoundError(
                f"Genomic Benchmarks {self.name}: the splits are not under {', '.join(map(str, self._roots()))}, and "
                f"no SHA-256 is known for its archive {self.archive.url} (datasets/genomic_benchmarks.yaml pins none "
                f"yet), so it is not downloaded. Check the archive and pass archive_sha256=..., or put the "
                f"genomic-benchmarks package's {self.name}/{{train,test}}/<class>/*.txt folders there"
                f"{self._local_hint()}")
        try:
            archive = locate(self.archive)
        except ValueError as error:
            raise ValueError(f"{error} The expected SHA-256 came from {self.archive_hash_from}: check it.") from None
        target = cache_dir() / "genomic_benchmarks" / self.name
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{self.name}.") as unpacked:
            shutil.unpack_archive(archive, unpacked, format="zip")
            folders = {split: Path(unpacked) / self.name / split for split in ("train", "test")}
            if not all(self._holds_every_class(folder) for folder in folders.values()):
                raise ValueError(f"{archive} does not hold {self.name}/{{train,test}}/<class>/ folders for the "
                                 f"classes {sorted(self.info['classes'])}")
            target.mkdir(exist_ok=True)
            for split, folder in folders.items():
                if (target / split).is_dir() and not self._holds_every_class(target / split):
                    os.replace(target / split, Path(unpacked) / f"incomplete-{split}")  # removed with the folder
                try:
                    os.replace(folder, target / split)
                except OSError:  # another process (a DDP rank) put the split there first
                    if not self._holds_every_class(target / split):
                        raise
        if archive.parent == target.parent:  # unpacked, the cache's copy of the archive is not needed
            archive.unlink(missing_ok=True)  # where no lock is taken, another process may have

    def _read_split(self, split: str) -> Records:
        names = sorted(self.info["classes"])
        found = self._find_split(split)
        if found is None:
            raise FileNotFoundError(
                f"Genomic Benchmarks {self.name}: no {split} split found under {', '.join(map(str, self._roots()))}. "
                f"Put {self.name}/{split}.csv.gz (sequence,label) or the genomic-benchmarks package's "
                f"{self.name}/{split}/<class>/*.txt folders there{self._local_hint()}")
        if found.is_dir():
            ids, sequences, labels = [], [], []
            for label in names:
                for path in sorted((found / label).glob("*.txt")):
                    sequence = path.read_text().strip()
                    if not sequence:
                        raise ValueError(f"{path}: an empty sequence")
                    ids.append(f"{label}/{path.stem}")
                    sequences.append(sequence)
                    labels.append(label)
            return ids, sequences, labels
        known = self.info["files"].get(split)
        if known and known.get("sha256"):
            locate(DataFile(f"{self.name}/{split}", f"{self.name}/{split}.csv.gz", known.get("url") or "",
                            known["sha256"]), found)
        ids, sequences, labels = read_sequence_table(found)
        return ids, sequences, [self._class_of(label, names, found, row) for row, label in enumerate(labels)]

    def _class_of(self, label: str, names: list[str], path: Path, row: int) -> str:
        """The class a table's label names: one of ``names`` (the classes in alphabetical order), or its index."""
        if label in names:
            return label
        if label.isdigit() and int(label) < len(names):
            return names[int(label)]
        raise ValueError(f"{path}: row {row} has label {label!r}, neither a class of {self.name} ({names}) nor "
                         f"the index of one (0 to {len(names) - 1})")

    def _local_hint(self) -> str:
        present = ", ".join(self.info["files"])
        return f" (with only the {present} split, use protocol='local')" if present else ""

    def load_splits(self) -> dict[str, Records]:
        if self.protocol == "local":
            return stratified_split(self._read_split(self.split_present), self.local_fractions, self.seed)
        if self.download and (self._find_split("train") is None or self._find_split("test") is None):
            self._fetch_archive()
        fractions = (1 - self.val_fraction, self.val_fraction)
        return {**stratified_split(self._read_split("train"), fractions, self.seed), "test": self._read_split("test")}


class FastaDataModule(SequenceDataModule):
    """Your own labelled FASTA: one file per class (``{label: path}``) or one file whose headers carry
    the label (``path`` with ``label_pattern``); split into train / validation / test by ``fractions``."""

    def __init__(self, files: dict[str, str] | None = None, path: str | None = None,
                 label_pattern: str = r"label=(\S+)", fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
                 **kwargs):
        if (files is None) == (path is None):
            raise ValueError("give either files (one FASTA per class) or path (one labelled FASTA), not both")
        if files is not None and not files:
            raise ValueError("files is empty: give one FASTA file per class, {label: path}")
        if path is not None:
            label_regex(label_pattern)
        super().__init__(**kwargs)
        self.files, self.path, self.label_pattern = files, path, label_pattern
        self.fractions = _shares("fractions", fractions)

    def load_splits(self) -> dict[str, Records]:
        records = (read_fasta_per_class(self.files) if self.files is not None
                   else read_labelled_fasta(self.path, self.label_pattern))
        return stratified_split(records, self.fractions, self.seed)


class SequenceCSVDataModule(SequenceDataModule):
    """Your own CSV/TSV of ``sequence,label`` rows (other names by ``sequence_column`` and ``label_column``): one
    file split by ``fractions``, or separate ``train``/``val``/``test`` files."""

    def __init__(self, path: str | None = None, train: str | None = None, val: str | None = None,
                 test: str | None = None, fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
                 sequence_column: str = "sequence", label_column: str = "label", **kwargs):
        if (path is None) == (train is None):
            raise ValueError("give either path (one table to split) or train/val/test tables")
        if train is not None and (val is None or test is None):
            raise ValueError("with train, give val and test tables too")
        super().__init__(**kwargs)
        self.path, self.files = path, {"train": train, "val": val, "test": test}
        self.fractions = _shares("fractions", fractions)
        self.columns = (sequence_column, label_column)

    def load_splits(self) -> dict[str, Records]:
        if self.path is not None:
            return stratified_split(read_sequence_table(self.path, *self.columns), self.fractions, self.seed)
        return {split: read_sequence_table(path, *self.columns) for split, path in self.files.items()}
