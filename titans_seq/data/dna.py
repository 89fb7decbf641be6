"""DNA sequences: a character tokenizer, reverse complements, and readers for FASTA/FASTQ and tables.

Token ids: ``PAD=0``, ``CLS=1``, ``MASK=2`` (reserved), then ``A C G T N`` = 3..7. Lower case
(soft-masked repeats) reads as the same base. IUPAC ambiguity codes (R Y S W K M B D H V) become
``N`` by default, or are an error with ``iupac="error"``; any other character is an error that names
the sequence and the position.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from titans_seq._tensors import reversed_within
from titans_seq.data.files import compression, is_gzip, table_separator

__all__ = ["DNATokenizer", "read_fasta", "read_fasta_per_class", "read_labelled_fasta", "read_sequence_table",
           "reverse_complement"]

PAD, CLS, MASK, A, C, G, T, N = range(8)
BASES = "ACGTN"
IUPAC_AMBIGUOUS = "RYSWKMBDHV"
_COMPLEMENT = str.maketrans("ACGTNacgtnRYSWKMBDHVryswkmbdhv", "TGCANtgcanYRSWMKVHDByrswmkvhdb")
_INVALID = 255


def reverse_complement(sequence: str) -> str:
    """The reverse complement of a DNA string (IUPAC codes complemented too, case kept)."""
    return sequence.translate(_COMPLEMENT)[::-1]


class DNATokenizer:
    """Characters to token ids and back, with padding and cropping to a fixed length.

    Args:
        iupac: ``"n"`` maps ambiguity codes to ``N``; ``"error"`` rejects them.
        crop: which part of a sequence longer than ``max_length`` to keep: ``"start"`` (cut the end),
            ``"end"`` (cut the start) or ``"center"`` (cut both ends evenly: where the excess is odd, one base
            more, the rest padded, so that a reverse complement's crop is the crop's reverse complement). Shorter
            sequences are padded with ``PAD`` after their end.
    """

    vocab_size = 8
    pad_id, cls_id, mask_id = PAD, CLS, MASK

    def __init__(self, iupac: str = "n", crop: str = "center"):
        if iupac not in ("n", "error"):
            raise ValueError(f"iupac must be 'n' or 'error', got {iupac!r}")
        if crop not in ("start", "end", "center"):
            raise ValueError(f"crop must be 'start', 'end' or 'center', got {crop!r}")
        self.iupac, self.crop = iupac, crop
        table = np.full(256, _INVALID, dtype=np.uint8)
        for i, base in enumerate(BASES):
            table[ord(base)] = table[ord(base.lower())] = A + i
        if iupac == "n":
            for code in IUPAC_AMBIGUOUS:
                table[ord(code)] = table[ord(code.lower())] = N
        self._table = table
        self._complement = np.array([PAD, CLS, MASK, T, G, C, A, N], dtype=np.int64)

    def encode(self, sequence: str, name: str | int | None = None, dtype=np.int64) -> np.ndarray:
        """Token ids of one sequence, in ``dtype`` (``np.uint8`` holds them in an eighth of the memory); ``name``
        (an id or an index) is used in the error message."""
        if not isinstance(sequence, str):
            raise TypeError(f"sequence {name!r} must be a string, got {type(sequence).__name__}")
        raw = np.frombuffer(sequence.encode("utf-8"), dtype=np.uint8)
        ids = self._table[raw]
        bad = np.flatnonzero(ids == _INVALID)
        if bad.size:
            position = len(sequence.encode("utf-8")[: bad[0]].decode("utf-8", errors="ignore"))
            char = sequence[position]
            kind = "an IUPAC ambiguity code (iupac='error')" if char.upper() in IUPAC_AMBIGUOUS else "not DNA"
            raise ValueError(f"sequence {name if name is not None else ''!s}: character {char!r} at position "
                             f"{position} is {kind}; allowed are A, C, G, T, N in either case")
        return ids.astype(dtype, copy=False)

    def decode(self, ids: Iterable[int]) -> str:
        """Bases of token ids (upper case); padding and special tokens are dropped."""
        ids = np.asarray(ids).tolist()
        unknown = [i for i in ids if not 0 <= i < self.vocab_size]
        if unknown:
            raise ValueError(f"token id {unknown[0]} is not one of this tokenizer's (0 to {self.vocab_size - 1})")
        return "".join(BASES[i - A] for i in ids if i >= A)

    def fit_length(self, ids: np.ndarray, max_length: int) -> np.ndarray:
        """Crop (as ``crop`` says) or pad with ``PAD`` to exactly ``max_length`` ids."""
        excess = len(ids) - max_length
        if excess > 0 and self.crop == "center":
            ids = ids[(excess + 1) // 2: len(ids) - (excess + 1) // 2]  # as many bases off each end
        elif excess > 0:
            start = 0 if self.crop == "start" else excess
            return ids[start: start + max_length]
        return np.concatenate([ids, np.full(max_length - len(ids), PAD, dtype=ids.dtype)])

    def batch(self, sequences: Sequence[str], max_length: int, names: Sequence | None = None) -> torch.Tensor:
        """``(len(sequences), max_length)`` token ids."""
        names = names if names is not None else range(len(sequences))
        return torch.from_numpy(np.stack([self.fit_length(self.encode(s, n), max_length)
                                          for s, n in zip(sequences, names, strict=True)]))

    def reverse_complement_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Reverse complement of padded token ids ``(..., L)``: bases complemented and reversed within each
        sequence's own length, the padding left at the end."""
        return self._complements(ids)[reversed_within(ids, ids != PAD, -1).long()]  # uint8 would index as a mask

    def reverse_complement_unpadded(self, ids: torch.Tensor, piece: int = 65536) -> torch.Tensor:
        """Reverse complement of the token ids of unpadded sequences of one length ``(..., L)``, in their dtype,
        formed ``piece`` ids at a time: for a chromosome held a byte a base, no int64 copy of the whole."""
        lookup, length, reverse = self._complements(ids), ids.shape[-1], torch.empty_like(ids)
        for start in range(0, length, piece):
            part = ids[..., start: start + piece]
            reverse[..., length - start - part.shape[-1]: length - start] = lookup[part.long()].flip(-1)
        return reverse

    def _complements(self, ids: torch.Tensor) -> torch.Tensor:
        """Each token id's complement, indexed by id, on ``ids``' device and in their dtype."""
        return torch.as_tensor(self._complement, device=ids.device).to(ids.dtype)


def _check_records(records: list[tuple[str, str]], path: str | os.PathLike) -> list[tuple[str, str]]:
    if not records:
        raise ValueError(f"{path}: no records found")
    seen = set()
    for number, (name, sequence) in enumerate(records):
        if not name:
            raise ValueError(f"{path}: record {number} has no id (an empty header)")
        if not sequence:
            raise ValueError(f"{path}: record {name!r} has an empty sequence")
        if name in seen:
            raise ValueError(f"{path}: duplicate record id {name!r}")
        seen.add(name)
    return records


# What reading a truncated or mislabelled .gz, or a binary file, raises: turned into a ValueError naming the file.
_UNREADABLE = (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError)


def _flush_headers(lines):
    """The lines of a FASTA file, refusing a header whose ``>`` follows whitespace: Biopython's parser reads such a
    line as sequence, merging two records into one, or skips it with its record if it comes first."""
    for number, line in enumerate(lines, 1):
        if line[:1].isspace() and line.lstrip().startswith(">"):
            raise ValueError(f"line {number} has whitespace before its '>'; a header must start the line")
        yield line


def _read_records(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(header line, sequence)`` of every record of a FASTA or FASTQ file (gzip too; FASTQ by a leading ``@``)."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser
    from Bio.SeqIO.QualityIO import FastqGeneralIterator

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no FASTA/FASTQ file at {path}")
    try:
        # utf-8-sig: a byte-order mark, as some editors write, is not part of the first header.
        with (gzip.open(path, "rt", encoding="utf-8-sig") if is_gzip(path)
              else open(path, encoding="utf-8-sig")) as handle:
            first = ""
            for line in handle:
                if line.strip():
                    first = line.lstrip()[0]
                    break
            if not first:
                raise ValueError(f"{path}: no records found (the file is empty or blank)")
            if first not in (">", "@"):
                raise ValueError(f"{path}: not a FASTA or FASTQ file (the first record must start with '>' or '@')")
            handle.seek(0)
            try:
                parser = (SimpleFastaParser(_flush_headers(handle)) if first == ">"
                          else FastqGeneralIterator(handle))
                return [(header, record[0]) for header, *record in parser]
            except _UNREADABLE:
                raise
            except ValueError as error:
                raise ValueError(f"{path}: malformed {'FASTA' if first == '>' else 'FASTQ'} file: {error}") from None
    except _UNREADABLE as error:
        raise ValueError(f"{path}: not a readable FASTA/FASTQ text file ({type(error).__name__}: {error})") from None


def read_fasta(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(id, sequence)`` of every record of a FASTA or FASTQ file (gzip too; FASTQ by a leading ``@``).

    The id is the header's first word. Raises ``ValueError`` for a file that is neither (or does not read
    as text), an empty record, or a repeated id; ``FileNotFoundError`` for a missing file.
    """
    return _named(_read_records(path), path)


def _named(records: list[tuple[str, str]], path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(id, sequence)`` of ``(header line, sequence)`` records, the id the header's first word, checked."""
    return _check_records([(header.split()[0] if header.split() else "", sequence) for header, sequence in records],
                          path)


def label_regex(pattern: str | re.Pattern) -> re.Pattern:
    """``pattern`` compiled, if it is a regular expression with a group (the label)."""
    if not isinstance(pattern, (str, re.Pattern)):
        raise TypeError(f"label_pattern must be a regular expression, got {type(pattern).__name__}")
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise ValueError(f"label_pattern {pattern!r} is not a regular expression: {error}") from None
    if not regex.groups:
        raise ValueError(f"label_pattern {pattern!r} has no group: put the label's part in parentheses, as in "
                         f"'label=(\\S+)'")
    return regex


def read_labelled_fasta(path: str | os.PathLike,
                        pattern: str | re.Pattern = r"label=(\S+)") -> tuple[list[str], list[str], list[str]]:
    """ids, sequences and labels of a FASTA (or FASTQ) file whose headers carry the label, found by ``pattern``
    (a regular expression whose first group is the label, searched in the whole header line)."""
    regex = label_regex(pattern)
    raw = _read_records(path)
    headers, records = [header for header, _ in raw], _named(raw, path)
    labels = []
    for (name, _), header in zip(records, headers, strict=True):
        match = regex.search(header)
        if not match:
            raise ValueError(f"{path}: record {name!r} has no label matching {pattern!r} in its header {header!r}")
        labels.append(match.group(1))
    return [n for n, _ in records], [s for _, s in records], labels


def read_fasta_per_class(files: dict[str, str | os.PathLike]) -> tuple[list[str], list[str], list[str]]:
    """ids, sequences and labels from one FASTA file per class (``{label: path}``)."""
    ids, sequences, labels = [], [], []
    for label, path in files.items():
        records = read_fasta(path)
        ids += [n for n, _ in records]
        sequences += [s for _, s in records]
        labels += [label] * len(records)
    duplicates = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(duplicates):
        raise ValueError(f"record id {duplicates[0]!r} appears in more than one class file")
    return ids, sequences, labels


def read_sequence_table(path: str | os.PathLike, sequence_column: str = "sequence", label_column: str = "label",
                        label_required: bool = True) -> tuple[list[str], list[str], list | None]:
    """ids (row numbers, or an ``id`` column), sequences and labels of a CSV/TSV file (gzip too); the labels are
    ``None`` where the table has no ``label_column`` and none is ``label_required``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sequence table at {path}")
    try:  # every cell as written: no "NA" read as missing, no "01" read as 1
        frame = pd.read_csv(path, sep=table_separator(path), dtype=str, keep_default_na=False,
                            compression=compression(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, *_UNREADABLE) as error:
        raise ValueError(f"{path}: not a readable table ({type(error).__name__}: {error})") from None
    labelled = label_required or label_column in frame.columns
    columns = [sequence_column, label_column] if labelled else [sequence_column]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: column(s) {missing} not found; the columns are {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{path}: no rows")
    for column in columns:  # "pos " is the label "pos"
        frame[column] = frame[column].str.strip()
        empty = frame[column] == ""
        if empty.any():
            raise ValueError(f"{path}: row {int(np.flatnonzero(empty.to_numpy())[0])} has no {column}")
    ids = frame["id"].tolist() if "id" in frame.columns else [str(i) for i in range(len(frame))]
    repeated = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(repeated):
        raise ValueError(f"{path}: id {repeated[0]!r} appears in more than one row")
    return ids, frame[sequence_column].tolist(), frame[label_column].tolist() if labelled else None


def read_sequences(path: str | os.PathLike, sequence_column: str = "sequence",
                   label_column: str = "label") -> tuple[list[str], list[str], list | None]:
    """ids, sequences and labels (``None`` where there are none) of a FASTA/FASTQ file, or of a CSV/TSV table (by a
    ``.csv``, ``.tsv`` or ``.tab`` name, gzip too) with a ``sequence_column`` and, if it has one, a
    ``label_column``."""
    if {".csv", ".tsv", ".tab"} & {suffix.lower() for suffix in Path(path).suffixes}:
        return read_sequence_table(path, sequence_column, label_column, label_required=False)
    records = read_fasta(path)
    return [name for name, _ in records], [sequence for _, sequence in records], None
