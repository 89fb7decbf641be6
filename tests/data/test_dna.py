"""DNA tokenizer, reverse complements, readers and the sequence DataModules."""

import gzip
import re
from functools import partial

import numpy as np
import pytest
import torch

from titans_seq.data import (
    DNATokenizer,
    FastaDataModule,
    GenomicBenchmarksDataModule,
    SequenceCSVDataModule,
    cross_validation_fold,
    interleaved_order,
    read_fasta,
    read_fasta_per_class,
    read_labelled_fasta,
    read_sequence_table,
    reverse_complement,
    stratified_split,
)


def test_round_trip_case_folding_and_iupac():
    tok = DNATokenizer()
    assert tok.decode(tok.encode("ACGTN")) == "ACGTN"
    assert (tok.encode("acgtn") == tok.encode("ACGTN")).all()  # soft-masked bases are the same bases
    assert tok.decode(tok.encode("ARYN")) == "ANNN"  # ambiguity codes read as N
    for unknown in (9, -1):  # before: an IndexError, or the id dropped without a word
        with pytest.raises(ValueError, match=f"token id {unknown} is not one of this tokenizer's"):
            tok.decode([3, 4, unknown])
    with pytest.raises(ValueError, match=r"sequence read7: character 'R' at position 1 is an IUPAC ambiguity code"):
        DNATokenizer(iupac="error").encode("ARYN", "read7")
    with pytest.raises(ValueError, match=r"sequence 3: character 'X' at position 4 is not DNA"):
        tok.encode("ACGTX", 3)
    with pytest.raises(ValueError, match=r"character 'é' at position 2"):
        tok.encode("ACéG", "utf8")


def test_reverse_complement_twice_is_identity():
    rng = np.random.default_rng(0)
    sequence = "".join(rng.choice(list("ACGTNacgt"), 101))
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement(reverse_complement(sequence)) == sequence
    tok = DNATokenizer()
    ids = tok.batch([sequence, "ACCG"], max_length=120)
    rc = tok.reverse_complement_ids(ids)
    assert tok.decode(rc[1]) == "CGGT" and (rc[1, 4:] == 0).all()  # padding stays at the end
    assert tok.decode(rc[0]) == reverse_complement(sequence).upper()
    assert torch.equal(tok.reverse_complement_ids(rc), ids)
    assert torch.equal(tok.reverse_complement_ids(ids.to(torch.uint8)), rc.to(torch.uint8))  # not read as a mask
    whole = torch.from_numpy(tok.encode(sequence, dtype=np.uint8)).unsqueeze(0)  # a byte a base, in pieces
    for piece in (1, 7, 101, 1000):
        reverse = tok.reverse_complement_unpadded(whole, piece)
        assert reverse.dtype == torch.uint8 and tok.decode(reverse[0]) == reverse_complement(sequence).upper()


@pytest.mark.parametrize(("crop", "kept"), [("start", "AACC"), ("end", "GGTT"), ("center", "CCGG")])
def test_crop_and_pad(crop, kept):
    tok = DNATokenizer(crop=crop)
    assert tok.decode(tok.fit_length(tok.encode("AACCGGTT"), 4)) == kept
    assert list(tok.fit_length(tok.encode("AC"), 4)) == [3, 4, 0, 0]



def test_a_center_crop_commutes_with_the_reverse_complement():
    """An odd excess keeps one base fewer, so that both strands keep the same bases."""
    tok = DNATokenizer()
    assert tok.decode(tok.fit_length(tok.encode("AACCGGTTA"), 4)) == "CGG"
    assert tok.fit_length(tok.encode("AACCGGTTA"), 4)[-1] == tok.pad_id
    for sequence in ("AACCGGTTA", "ACGTTGCAAGT", "ACGTTGCAAG"):
        cropped = tok.decode(tok.fit_length(tok.encode(sequence), 6))
        assert tok.decode(tok.fit_length(tok.encode(reverse_complement(sequence)), 6)) == reverse_complement(cropped)


def test_fasta_fastq_and_labelled_readers(tmp_path):
    (tmp_path / "a.fa").write_text(">s1 label=enhancer\nACGT\nAC\n>s2 label=other\nGGGG\n")
    assert read_fasta(tmp_path / "a.fa") == [("s1", "ACGTAC"), ("s2", "GGGG")]
    with gzip.open(tmp_path / "a.fq.gz", "wt") as f:
        f.write("@r1\nACGT\n+\nIIII\n@r2\nTT\n+\nII\n")
    assert read_fasta(tmp_path / "a.fq.gz") == [("r1", "ACGT"), ("r2", "TT")]
    ids, sequences, labels = read_labelled_fasta(tmp_path / "a.fa")
    assert (ids, sequences, labels) == (["s1", "s2"], ["ACGTAC", "GGGG"], ["enhancer", "other"])
    (tmp_path / "b.fa").write_text(">s3\nTTTT\n")
    assert read_fasta_per_class({"x": tmp_path / "a.fa", "y": tmp_path / "b.fa"})[2] == ["x", "x", "y"]
    with gzip.open(tmp_path / "l.fq.gz", "wt") as f:
        f.write("@r1 label=a\nACGT\n+\nIIII\n@r2 label=b\nTT\n+\nII\n")
    assert read_labelled_fasta(tmp_path / "l.fq.gz") == (["r1", "r2"], ["ACGT", "TT"], ["a", "b"])
    (tmp_path / "bom.fa").write_bytes(b"\xef\xbb\xbf>s1\nACGT\n")  # a byte-order mark, as some editors write
    assert read_fasta(tmp_path / "bom.fa") == [("s1", "ACGT")]


def test_tables_keep_every_cell_as_written(tmp_path):
    (tmp_path / "t.csv").write_text("id,sequence,label\n0007,ACGT,NA\n7,GGCC,01\n")
    assert read_sequence_table(tmp_path / "t.csv") == (["0007", "7"], ["ACGT", "GGCC"], ["NA", "01"])
    (tmp_path / "s.csv").write_text("sequence,label\nACGT,pos\n GGCC ,pos \n")  # spaces around a cell
    assert read_sequence_table(tmp_path / "s.csv") == (["0", "1"], ["ACGT", "GGCC"], ["pos", "pos"])
    (tmp_path / "u.csv").write_text("id,sequence,label\n7,ACGT,a\n07,GGCC,b\n7,TTTT,a\n")
    with pytest.raises(ValueError, match="id '7' appears in more than one row"):
        read_sequence_table(tmp_path / "u.csv")


@pytest.mark.parametrize("reader, name, content", [
    (read_fasta, "binary.fa", bytes(range(256))), (read_sequence_table, "binary.csv", bytes(range(256))),
])
def test_unreadable_files_name_themselves(tmp_path, reader, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=rf"{name}: not a readable"):
        reader(tmp_path / name)


@pytest.mark.parametrize("name", ["x.fa.bgz", "X.FA.GZ", "x.fasta.gzip", "gzipped.fa"])
def test_gzip_is_known_by_its_content(tmp_path, name):
    """Only a lower-case .gz name was read as gzip; the rest failed with 'byte 0x8b'."""
    (tmp_path / name).write_bytes(gzip.compress(b">s1\nACGT\n"))
    assert read_fasta(tmp_path / name) == [("s1", "ACGT")]
    (tmp_path / "t").write_bytes(gzip.compress(b"sequence,label\nACGT,a\n"))
    assert read_sequence_table(tmp_path / "t")[1] == ["ACGT"]
    (tmp_path / "plain.fa.gz").write_text(">s1\nACGT\n")  # a plain file named .gz is read as what it holds
    assert read_fasta(tmp_path / "plain.fa.gz") == [("s1", "ACGT")]
    (tmp_path / "plain.csv.gz").write_text("sequence,label\nACGT,a\n")
    assert read_sequence_table(tmp_path / "plain.csv.gz")[1] == ["ACGT"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"no records found \(the file is empty or blank\)"),
        ("\n \n", r"no records found \(the file is empty or blank\)"),
        ("hello\nworld\n", "not a FASTA or FASTQ"),
        (">s1\n\n>s2\nACGT\n", "record 's1' has an empty sequence"),
        (">s1\nACGT\n>s1\nAC\n", "duplicate record id 's1'"),
        (">s1\nACGT\n>\nAC\n", "record 1 has no id"),
        # An indented header: Biopython's parser skipped the first record, or merged a later one into the one before.
        (" >s1\nACGT\n>s2\nGGCC\n", "line 1 has whitespace before its '>'"),
        (">s1\nACGT\n\t>s2\nGGCC\n", "line 3 has whitespace before its '>'"),
    ],
)
def test_bad_fasta_files(tmp_path, content, message):
    (tmp_path / "bad.fa").write_text(content)
    with pytest.raises(ValueError, match=message):
        read_fasta(tmp_path / "bad.fa")


def test_bad_tables_and_labels(tmp_path):
    with pytest.raises(FileNotFoundError, match="no FASTA"):
        read_fasta(tmp_path / "missing.fa")
    (tmp_path / "t.csv").write_text("seq,label\nACGT,1\n")
    with pytest.raises(ValueError, match=r"column\(s\) \['sequence'\] not found"):
        read_sequence_table(tmp_path / "t.csv")
    (tmp_path / "u.tsv").write_text("sequence\tlabel\nACGT\t1\n\t0\n")
    with pytest.raises(ValueError, match="row 1 has no sequence"):
        read_sequence_table(tmp_path / "u.tsv")
    (tmp_path / "v.fa").write_text(">s1 class=a\nACGT\n")
    with pytest.raises(ValueError, match="record 's1' has no label matching"):
        read_labelled_fasta(tmp_path / "v.fa")
    # A pattern without a group, or not a pattern, failed with an IndexError or re.error (a CLI traceback).
    with pytest.raises(ValueError, match=r"label_pattern 'pos\|neg' has no group"):
        read_labelled_fasta(tmp_path / "v.fa", "pos|neg")
    assert read_labelled_fasta(tmp_path / "v.fa", re.compile(r"class=(\S+)"))[2] == ["a"]  # compiled, as before
    with pytest.raises(ValueError, match=r"label_pattern '\(' is not a regular expression"):
        FastaDataModule(path=tmp_path / "v.fa", label_pattern="(")
    (tmp_path / "named.csv").write_text("seq,class\n" + "ACGT,a\nGGCC,b\n" * 10)  # a TypeError in __init__
    named = SequenceCSVDataModule(path=tmp_path / "named.csv", sequence_column="seq", label_column="class")
    named.setup()
    assert sum(named.sizes.values()) == 20
    (tmp_path / "w.csv").write_text("sequence,label\n" + "ACGT,a\n" * 20)
    with pytest.raises(ValueError, match="single class"):
        SequenceCSVDataModule(path=tmp_path / "w.csv").setup()
    for module, name in ((partial(SequenceCSVDataModule, path="x.csv"), "fractions"),
                         (partial(FastaDataModule, path="x.fa"), "fractions"),
                         (partial(GenomicBenchmarksDataModule, "human_nontata_promoters"), "local_fractions")):
        for shares in ((0.8, 0.2), (0.5, 0.6, 0.2), (0.7, 0.3, 0.0)):  # the last two failed only at setup
            message = f"{name} must be three positive shares .* got {re.escape(str(shares))}"
            with pytest.raises(ValueError, match=message):
                module(**{name: shares})
    # Before: refused at setup, after reading the data, with a message about classes or about (1, 0).
    for name, value in (("batch_size", 0), ("num_workers", -1)):  # batch_size 0 failed later, in the DataLoader
        with pytest.raises(ValueError, match=f"{name} must be "):
            SequenceCSVDataModule(path="x.csv", **{name: value})
    for seed in (-1, 2**32, 1.0, True):
        with pytest.raises(ValueError, match=f"seed must be an integer in \\[0, 2\\*\\*32\\), .* got {seed}"):
            SequenceCSVDataModule(path="x.csv", seed=seed)
    for fraction in (0, 1, float("nan")):
        with pytest.raises(ValueError, match=f"val_fraction must lie in \\(0, 1\\), got {fraction}"):
            GenomicBenchmarksDataModule("human_nontata_promoters", val_fraction=fraction)


def test_local_protocol_is_stratified_and_seeded(samples, monkeypatch):
    monkeypatch.setenv("TITANS_SEQ_DATA", str(samples.parent))
    data = GenomicBenchmarksDataModule("human_nontata_promoters", protocol="local", batch_size=8)
    data.setup()
    assert data.class_names == ["negative", "positive"] and data.max_length == 251
    assert sum(data.sizes.values()) == 9034 and data.sizes["test"] == pytest.approx(0.2 * 9034, abs=2)
    train_labels = data.datasets["train"].targets.float().mean().item()
    assert train_labels == pytest.approx(4915 / 9034, abs=0.01)  # the class mix of the whole split
    again = GenomicBenchmarksDataModule("human_nontata_promoters", protocol="local")
    again.setup()
    assert again.records["test"][1][:5] == data.records["test"][1][:5]
    assert again.records["val"] == data.records["val"]  # the validation order is seeded
    other = GenomicBenchmarksDataModule("human_nontata_promoters", protocol="local", seed=np.int64(1))
    other.setup()  # numpy's integers are seeds too
    assert other.records["val"] != data.records["val"]
    # Validation comes in a mixed order, so a partial validation sees both classes; it came class after class.
    first_batch = next(iter(data.val_dataloader()))
    assert set(first_batch[1].tolist()) == {0, 1}
    with pytest.raises(FileNotFoundError, match="use protocol='local'"):
        GenomicBenchmarksDataModule("human_nontata_promoters").setup()
    with pytest.raises(ValueError, match=r"cannot split 30 records of classes \{'a': 20, 'b': 7, 'rare': 3\}"):
        stratified_split((list("x" * 30), list("A" * 30), ["a"] * 20 + ["b"] * 7 + ["rare"] * 3), (0.7, 0.1, 0.2), 0)
    with pytest.raises(ValueError, match="unknown Genomic Benchmarks dataset"):
        GenomicBenchmarksDataModule("human_or_cat")


def test_cross_validation_folds_partition_the_development_sequences(tmp_path):
    rng = np.random.default_rng(2)
    rows = [f"{''.join(rng.choice(list('ACGT'), 20))},{'ab'[i % 3 == 0]}" for i in range(150)]
    (tmp_path / "t.csv").write_text("sequence,label\n" + "\n".join(rows) + "\n")
    plain = SequenceCSVDataModule(path=tmp_path / "t.csv", seed=4)
    plain.setup()
    development = sorted(plain.records["train"][1] + plain.records["val"][1])
    validated = []
    for fold in range(5):
        data = SequenceCSVDataModule(path=tmp_path / "t.csv", seed=4, cv_folds=5, cv_fold=fold)
        data.setup()
        train, val = data.records["train"][1], data.records["val"][1]
        assert sorted(train + val) == development and not set(train) & set(val)
        assert data.records["test"] == plain.records["test"]  # the test split never moves
        assert data.datasets["val"].targets.float().mean().item() == pytest.approx(1 / 3, abs=0.04)  # stratified
        validated += val
    assert sorted(validated) == development  # each development sequence is validated exactly once
    with pytest.raises(ValueError, match=r"cv_folds must be 0 .* or at least 2"):
        SequenceCSVDataModule(path=tmp_path / "t.csv", cv_folds=1)
    with pytest.raises(ValueError, match=r"cv_fold must be in \[0, 5\)"):
        SequenceCSVDataModule(path=tmp_path / "t.csv", cv_folds=5, cv_fold=5)
    with pytest.raises(TypeError, match="cv_folds must be an integer"):
        SequenceCSVDataModule(path=tmp_path / "t.csv", cv_folds=2.0)
    records = (["x", "y", "z"], ["A", "C", "G"], ["a", "a", "b"])
    with pytest.raises(ValueError, match="class 'b' has 1"):
        cross_validation_fold({"train": records, "val": ([], [], []), "test": records}, 2, 0, seed=0)


def test_official_protocol_reads_the_package_layout(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("test", 10)):
        for label in ("negative", "positive"):
            folder = tmp_path / "dummy_mouse_enhancers_ensembl" / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i}.txt").write_text("".join(rng.choice(list("ACGT"), 50)))
    data = GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", data_dir=str(tmp_path), val_fraction=0.2)
    data.setup()
    assert data.sizes == {"train": 48, "val": 12, "test": 20}
    (tmp_path / "dummy_mouse_enhancers_ensembl" / "test" / "positive" / "0.txt").write_text("\n")
    with pytest.raises(ValueError, match=r"positive/0\.txt: an empty sequence"):
        GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", data_dir=str(tmp_path)).setup()


@pytest.mark.parametrize("label, message", [("2", "label '2', neither a class"), ("postive", "label 'postive'")])
def test_a_tables_labels_must_name_the_datasets_classes(tmp_path, label, message):
    folder = tmp_path / "dummy_mouse_enhancers_ensembl"
    folder.mkdir()
    rows = [f"{'ACGT' * 5},{i % 2}" for i in range(20)] + [f"{'ACGT' * 5},positive", f"{'ACGT' * 5},{label}"]
    for split in ("train", "test"):
        (folder / f"{split}.csv").write_text("sequence,label\n" + "\n".join(rows) + "\n")
    data = GenomicBenchmarksDataModule("dummy_mouse_enhancers_ensembl", data_dir=str(tmp_path), download=False)
    with pytest.raises(ValueError, match=rf"train\.csv: row 21 has {message}"):
        data.setup()


def test_fasta_datamodule_rc_augmentation(tmp_path):
    rng = np.random.default_rng(1)
    for label in ("a", "b"):
        with open(tmp_path / f"{label}.fa", "w") as f:
            for i in range(40):
                f.write(f">{label}{i}\n{''.join(rng.choice(list('ACGT'), 30))}\n")
    with pytest.raises(ValueError, match="files is empty"):
        FastaDataModule(files={})
    data = FastaDataModule(files={"a": str(tmp_path / "a.fa"), "b": str(tmp_path / "b.fa")}, batch_size=4, seed=3)
    data.setup()
    assert data.class_names == ["a", "b"] and data.sizes == {"train": 56, "val": 8, "test": 16}
    torch.manual_seed(0)
    seen = {tuple(data.datasets["train"][0][0].tolist()) for _ in range(20)}
    assert len(seen) == 2  # the sequence and its reverse complement
    assert len({tuple(data.datasets["test"][0][0].tolist()) for _ in range(5)}) == 1
    # Kept as bytes (int64 ids took 8 bytes a base: 534 MiB for 200k sequences of 350 bases), batched as int64.
    assert {tokens.dtype for dataset in data.datasets.values() for tokens in dataset.tokens} == {np.dtype(np.uint8)}
    ids, _ = next(iter(data.test_dataloader()))
    first = data.records["test"][1][0]
    assert ids.dtype == torch.int64 and ids[0].tolist() == DNATokenizer().encode(first).tolist()


@pytest.mark.parametrize("seed", range(5))
def test_a_limited_validation_holds_every_class_in_about_its_share(tmp_path, seed):
    """validation_limit reads the first sequences of an order that interleaves the classes, so a rare class is there
    too. Before, the order was a plain shuffle and the subset evenly spaced over it: a class of 3 in 300 was in a
    subset of 16 by chance only (seeds 0, 3 and 4 missed it). Numpy's integers are sizes too: a batch_size of
    np.int64 was kept as such, and torch's loader refused it."""
    rng = np.random.default_rng(seed)
    labels = ["common"] * 250 + ["middle"] * 47 + ["rare"] * 3
    rows = [f"{''.join(rng.choice(list('ACGT'), 12))},{label}" for label in labels]
    for split in ("train", "val", "test"):
        (tmp_path / f"{split}.csv").write_text("sequence,label\n" + "\n".join(rows) + "\n")
    data = SequenceCSVDataModule(**{split: str(tmp_path / f"{split}.csv") for split in ("train", "val", "test")},
                                 seed=seed, batch_size=np.int64(8), max_length=np.int64(12),
                                 validation_limit=np.int64(16))
    data.setup()
    read = torch.cat([classes for _, classes in data.val_dataloader()]).tolist()
    assert len(read) == 16 and read.count(2) == 1  # the rare class, above its share of 0.16: every class is there
    assert [read.count(i) for i in range(2)] == pytest.approx([16 * 250 / 300, 16 * 47 / 300], abs=2)
    assert len(torch.cat([classes for _, classes in data.test_dataloader()])) == 300  # test is never limited
    order = interleaved_order(labels, seed)
    assert sorted(order) == list(range(300)) and {labels[i] for i in order[:3]} == set(labels)
    with pytest.raises(ValueError, match="validation_limit must be a positive integer, got 0"):
        SequenceCSVDataModule(path="any.csv", validation_limit=0)


def test_a_batch_is_padded_to_its_own_longest_sequence(tmp_path):
    """Every batch was padded to the longest training sequence: one of 20 kb among 50k of 200-500 bases made each
    training step 33 times slower."""
    rng = np.random.default_rng(0)
    rows = [("".join(rng.choice(list("ACGT"), 600 if i == 0 else 30)), "ab"[i % 2]) for i in range(80)]
    (tmp_path / "seqs.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    data = SequenceCSVDataModule(path=tmp_path / "seqs.csv", batch_size=4, max_length=600)
    data.setup()
    lengths = [ids.shape[1] for loader in (data.train_dataloader(), data.val_dataloader(), data.test_dataloader())
               for ids, _ in loader]
    assert max(lengths) == 600 and lengths.count(30) == len(lengths) - 1


def test_sequences_to_predict_come_from_a_fasta_or_a_table_with_or_without_labels(tmp_path):
    (tmp_path / "train.csv").write_text("sequence,label\n" + "ACGTACGT,a\nGGCCGGCC,b\n" * 10)
    (tmp_path / "new.fa").write_text(">x1\nACGT\n>x2\nGGCCGGCCGGCC\n")
    (tmp_path / "new.tsv").write_text("id\tsequence\nr7\tTTTT\n")
    for path, ids, length in (("new.fa", ["x1", "x2"], 8), ("new.tsv", ["r7"], 4)):
        data = SequenceCSVDataModule(path=tmp_path / "train.csv", predict_path=tmp_path / path, batch_size=4)
        data.setup()
        assert data.records["predict"][0] == ids and data.records["predict"][2] is None
        ids_batch, _ = next(iter(data.predict_dataloader()))
        assert ids_batch.shape == (len(ids), length)  # cropped to the training length, padded to the batch's longest
        assert set(data.sizes) == {"train", "val", "test"}
    # A labelled table keeps its labels, in the module's column names (which predict_path ignored), by any case of
    # its name (.TSV was read with commas).
    (tmp_path / "named.csv").write_text("seq,class\n" + "ACGTACGT,a\nGGCCGGCC,b\n" * 10)
    (tmp_path / "new.TSV").write_text("seq\tclass\nTTTT\tb\n")
    data = SequenceCSVDataModule(path=tmp_path / "named.csv", sequence_column="seq", label_column="class",
                                 predict_path=tmp_path / "new.TSV")
    data.setup()
    assert data.records["predict"] == (["0"], ["TTTT"], ["b"])
    with pytest.raises(TypeError, match="predict_path must be a file's path or None, got int"):
        SequenceCSVDataModule(path=tmp_path / "train.csv", predict_path=3)
