"""SequenceClassifier: learns a planted motif, is strand-symmetric with RC averaging, keeps class names."""

import warnings

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from titans_seq.data import DNATokenizer, SequenceCSVDataModule, reverse_complement
from titans_seq.heads import DNAEmbedding
from titans_seq.layers import TitansConfig
from titans_seq.tasks import Forecaster, SequenceClassifier, SequenceNetwork

SMALL = TitansConfig(variant="mag", dim=32, depth=1, heads=2, window=16, causal=False, persistent_tokens=2,
                     memory_chunk=8, memory_expansion=2.0, ff_mult=2.0)
MOTIF = "TATAAGGC"


def motif_table(path, n=800, length=64, seed=0, background_motif=None):
    """Random sequences, every other one ("motif") holding MOTIF at a random place, the others
    ("background") holding ``background_motif`` there (None: nothing planted)."""
    rng = np.random.default_rng(seed)
    rows = ["sequence,label"]
    for i in range(n):
        sequence = list(rng.choice(list("ACGT"), length))
        label = "motif" if i % 2 else "background"
        planted = MOTIF if label == "motif" else background_motif
        if planted:
            at = rng.integers(0, length - len(planted))
            sequence[at: at + len(planted)] = planted
        rows.append(f"{''.join(sequence)},{label}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("variant", ["lmm", "mac", "mag", "mal"])
@pytest.mark.parametrize("patch, pooling", [(1, "mean"), (4, "mean"), (4, "cls"), (4, "last")])
def test_a_sequences_prediction_does_not_depend_on_how_far_it_is_padded(variant, patch, pooling):
    """50 bases: with patch 4, a last partial patch, padded to its own length, a multiple of the patch, or beyond."""
    config = TitansConfig(**{**SMALL.to_dict(), "variant": variant, "window": 8, "segment_len": 8})
    torch.manual_seed(0)
    network = SequenceNetwork(2, config, pooling=pooling, patch=patch, kmer=3, strand_aware=True).eval()
    sequence = "".join(np.random.default_rng(0).choice(list("ACGT"), 50))
    tokenizer = DNATokenizer()
    with torch.no_grad():
        for reverse in (torch.tensor([False]), torch.tensor([True])):  # the strand head reads the reverse complement
            unpadded, *padded = (network(tokenizer.batch([sequence], length), reverse) for length in (50, 52, 64, 128))
            for logits in padded:
                torch.testing.assert_close(logits, unpadded, rtol=1e-5, atol=1e-5)


def train(model, data, epochs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = L.Trainer(max_epochs=epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
                            enable_checkpointing=False, accelerator="cpu")
        trainer.fit(model, datamodule=data)
        return trainer, trainer.test(model, datamodule=data, verbose=False)[0]


def test_learns_a_planted_motif_quickly(tmp_path):
    L.seed_everything(0, verbose=False)
    data = SequenceCSVDataModule(path=str(motif_table(tmp_path / "m.csv")), batch_size=32, rc_augment=False)
    data.setup()
    model = SequenceClassifier(classes=2, class_names=data.class_names, encoder=SMALL, max_length=data.max_length,
                               learning_rate=3e-3)
    _, result = train(model, data, epochs=6)
    assert result["test_accuracy"] > 0.95
    assert {"test_mcc", "test_f1", "test_auroc"} <= set(result)


def test_rc_averaged_predictions_ignore_the_strand():
    torch.manual_seed(0)
    model = SequenceClassifier(classes=3, encoder=SMALL, rc_average=True).eval()
    tok = DNATokenizer()
    rng = np.random.default_rng(2)
    # 71 and 90 are cropped, by odd and even excesses: the odd one's strands kept windows one base apart.
    sequences = ["".join(rng.choice(list("ACGT"), n)) for n in (40, 57, 64, 71, 90)]
    forward = model.probabilities(tok.batch(sequences, 64))
    backward = model.probabilities(tok.batch([reverse_complement(s) for s in sequences], 64))
    torch.testing.assert_close(forward, backward, rtol=1e-5, atol=1e-6)
    plain = SequenceClassifier(classes=3, encoder=SMALL).eval()
    assert not torch.allclose(plain.probabilities(tok.batch(sequences, 64)),
                              plain.probabilities(tok.batch([reverse_complement(s) for s in sequences], 64)))


def test_strand_aware_model_tells_a_motif_from_its_reverse_complement(tmp_path):
    # The classes differ only by strand: a strand-symmetric model cannot beat chance here.
    L.seed_everything(0, verbose=False)
    table = motif_table(tmp_path / "m.csv", background_motif=reverse_complement(MOTIF))
    data = SequenceCSVDataModule(path=str(table), batch_size=32, rc_augment=False)
    data.setup()
    model = SequenceClassifier(classes=2, class_names=data.class_names, encoder=SMALL, max_length=data.max_length,
                               strand_aware=True, rc_average=True, learning_rate=3e-3)
    _, result = train(model, data, epochs=6)
    assert result["test_accuracy"] > 0.9
    with pytest.raises(ValueError, match="rc_augment=False"):
        train(SequenceClassifier(classes=2, encoder=SMALL, strand_aware=True),
              SequenceCSVDataModule(path=str(table), batch_size=32, rc_augment=True), epochs=1)
    with pytest.raises(ValueError, match="strand_aware needs model='titans'"):
        SequenceClassifier(classes=2, model="cnn", max_length=64, strand_aware=True)


@pytest.mark.parametrize("term", ["kmer", "position"])
def test_strand_aware_wide_terms_read_the_given_strand_whichever_strand_the_encoder_reads(term):
    gains = dict(kmer_linear_gain=8.0) if term == "kmer" else dict(position_linear_gain=8.0, max_length=24)
    network = SequenceNetwork(2, SMALL, kmer=3, strand_aware=True, **gains).eval()
    with torch.no_grad():
        table = network.kmer_linear if term == "kmer" else network.position_linear
        nn.init.normal_(table.weight[:-1])
        for head in (network.head, network.reverse_head):  # the logits are the wide term alone
            head.weight.zero_(), head.bias.zero_()
    tok = DNATokenizer()
    sequences = ["ACGTTGCAAAGGA", "TTTTACGGGCATACGTA"]
    ids = tok.batch(sequences, 24)
    complement = tok.batch([reverse_complement(s) for s in sequences], 24)
    given = network(ids)
    torch.testing.assert_close(network(ids, torch.ones(2, dtype=torch.bool)), given)  # the encoder reads the complement
    assert not torch.allclose(network(complement), given)  # given as the sequence, the complement reads otherwise


def test_class_names_survive_save_and_load(tmp_path):
    model = SequenceClassifier(classes=2, class_names=["enhancer", "other"], encoder=SMALL, pooling="cls")
    trainer = L.Trainer(logger=False, enable_progress_bar=False, max_epochs=0)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    loaded = SequenceClassifier.load_from_checkpoint(tmp_path / "m.ckpt")
    assert loaded.class_names == ["enhancer", "other"] and loaded.hparams.pooling == "cls"
    ids = DNATokenizer().batch(["ACGTACGTAC"], 16)
    torch.testing.assert_close(loaded.eval()(ids), model.eval()(ids))


def test_the_classes_must_be_the_datamodules(tmp_path):
    """Names in another order would label every prediction wrong; a model without names takes the DataModule's."""
    data = SequenceCSVDataModule(path=str(motif_table(tmp_path / "m.csv", n=40)), batch_size=8)
    trainer = L.Trainer(fast_dev_run=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu")
    for model, error in ((SequenceClassifier(class_names=["motif", "background"], encoder=SMALL), "differ from"),
                         (SequenceClassifier(classes=3, encoder=SMALL), "3 classes but the DataModule has 2"),
                         # built only when the DataModule gives max_length: checked all the same
                         (SequenceClassifier(class_names=["motif", "background"], model="cnn"), "differ from")):
        with pytest.raises(ValueError, match=error):
            trainer.fit(model, datamodule=data)
    unnamed = SequenceClassifier(classes=2, encoder=SMALL)
    trainer.fit(unnamed, datamodule=data)
    assert unnamed.class_names == unnamed.hparams.class_names == ["background", "motif"]


@pytest.mark.parametrize("causal, kmer, piece, gain", [(True, 0, 1024, 0.0), (True, 6, 1024, 0.0), (True, 6, 4, 0.0),
                                                     (True, 6, 4, 64.0), (False, 6, 1024, 64.0)])
def test_long_sequences_in_bounded_pieces(causal, kmer, piece, gain):
    torch.manual_seed(0)
    encoder = TitansConfig(**{**SMALL.to_dict(), "causal": causal})
    model = SequenceClassifier(classes=2, encoder=encoder, max_length=64, patch=4, kmer=kmer, kmer_linear_gain=gain)
    if gain:  # weights as after training (they start at zero)
        torch.nn.init.normal_(model.network.kmer_linear.weight, std=0.1)
    sequence = "".join(np.random.default_rng(0).choice(list("ACGT"), 5000 if piece > 4 else 300))
    probs = model.classify_long(sequence, piece=piece)
    assert probs.shape == (2,) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    if causal:  # streaming in pieces (even pieces shorter than the k-mer) equals one pass over the whole sequence
        with torch.no_grad():
            once = model.eval().probabilities(DNATokenizer().batch([sequence], len(sequence)))[0].numpy()
        np.testing.assert_allclose(probs, once, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("strand_aware", [False, True])
def test_long_sequences_in_pieces_with_a_short_tail_and_both_strands(strand_aware):
    """A last piece shorter than a patch makes a padded token, as in one pass; rc_average averages both strands there
    too."""
    torch.manual_seed(0)
    encoder = TitansConfig(**{**SMALL.to_dict(), "causal": True})
    model = SequenceClassifier(classes=2, encoder=encoder, patch=4, kmer=3, kmer_linear_gain=64.0, rc_average=True,
                               strand_aware=strand_aware).eval()
    torch.nn.init.normal_(model.network.kmer_linear.weight, std=0.1)
    sequence = "".join(np.random.default_rng(1).choice(list("ACGT"), 50))  # 12 patches and 2 bases
    once = model.probabilities(DNATokenizer().batch([sequence], 50))[0].detach().numpy()
    for piece in (12, 16, 1024):
        np.testing.assert_allclose(model.classify_long(sequence, piece=piece), once, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="empty"):
        model.classify_long("")
    short = model.probabilities(DNATokenizer().batch(["ACG"], 3))[0].detach().numpy()
    np.testing.assert_allclose(model.classify_long("ACG"), short, rtol=1e-4, atol=1e-5)


def test_the_bases_after_the_last_whole_patch_are_read():
    torch.manual_seed(0)
    network = SequenceNetwork(2, SMALL, patch=4).eval()
    sequence = "".join(np.random.default_rng(3).choice(list("ACGT"), 50))
    other_tail = sequence[:-2] + ("CC" if sequence.endswith("AA") else "AA")
    with torch.no_grad():
        assert not torch.allclose(*(network(DNATokenizer().batch([s], 50)) for s in (sequence, other_tail)))
    x, present = network.embedding(DNATokenizer().batch([sequence, "ACG"], 50))
    assert x.shape[1] == 13 and present.sum(1).tolist() == [13, 1]


def test_long_sequences_in_full_windows_spread_from_end_to_end():
    torch.manual_seed(0)
    model = SequenceClassifier(classes=2, encoder=SMALL, max_length=64, patch=4).eval()
    sequence = "".join(np.random.default_rng(2).choice(list("ACGT"), 74))
    first, last = (model.probabilities(DNATokenizer().batch([s], 64))[0].detach().numpy()
                   for s in (sequence[:64], sequence[-64:]))
    np.testing.assert_allclose(model.classify_long(sequence), (first + last) / 2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("length", [64, 150, 151, 200, 1000])
def test_long_sequences_in_windows_ignore_the_strand_with_rc_average(length):
    """The windows were cut from the first base, so the two strands read different windows (up to 1e-3 apart)."""
    torch.manual_seed(0)
    model = SequenceClassifier(classes=3, encoder=SMALL, max_length=64, patch=4, rc_average=True).eval()
    sequence = "".join(np.random.default_rng(length).choice(list("ACGT"), length))
    np.testing.assert_allclose(model.classify_long(sequence), model.classify_long(reverse_complement(sequence)),
                               rtol=1e-5, atol=1e-7)


def test_a_nan_batch_makes_the_validation_loss_nan():
    model = SequenceClassifier(classes=2, encoder=SMALL, max_length=16)
    ids = DNATokenizer().batch(["ACGTACGTACGTACGT"] * 2, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a trainer
        model.validation_step((ids, torch.tensor([0, 1])), 0)
        model.probabilities = lambda ids: torch.full((ids.shape[0], 2), float("nan"))
        model.validation_step((ids, torch.tensor([0, 1])), 1)
    assert model.losses["val"].compute().isnan()


def test_a_model_cast_to_bfloat16_keeps_its_evaluation_loss_in_float32():
    """Lightning's precision="bf16-true" casts the module, whose loss metric counted in bfloat16: 600 examples in
    batches of 3 summed to 512, and the sum of losses rounded at every batch."""
    torch.manual_seed(0)
    model = SequenceClassifier(classes=2, model="cnn", max_length=64).to(torch.bfloat16).eval()
    ids = DNATokenizer().batch(["".join(np.random.default_rng(i).choice(list("ACGT"), 64)) for i in range(3)], 64)
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a trainer
        for step in range(200):
            target = torch.tensor([step % 2, 1, 0])
            model.validation_step((ids, target), step)
            losses.append(F.nll_loss(model.probabilities(ids).double().log(), target))
    assert model.losses["val"].count == 600
    assert model.losses["val"].compute().item() == pytest.approx(torch.stack(losses).mean().item(), rel=1e-6)


def test_a_model_made_under_init_module_keeps_its_evaluation_loss_in_float32():
    with L.Trainer(precision="bf16-true", accelerator="cpu", logger=False).init_module():
        model = SequenceClassifier(classes=2, model="cnn", max_length=64)
    assert model.losses["val"].total.dtype == torch.float32
    assert next(model.network.parameters()).dtype == torch.bfloat16


def test_a_position_model_refuses_data_it_would_read_cropped(tmp_path):
    """Through a DataModule (so the CLI) a sequence longer than max_length was centre-cropped without a word, which
    moved every position the position term weighs; the estimator refused it."""
    data = SequenceCSVDataModule(path=str(motif_table(tmp_path / "m.csv", n=40, length=24)), batch_size=8,
                                 rc_augment=False, predict_path=str(tmp_path / "new.fa"))
    (tmp_path / "new.fa").write_text(">aligned\n" + "ACGT" * 6 + "\n>longer\n" + "ACGT" * 8 + "\n")
    model = SequenceClassifier(classes=2, class_names=["background", "motif"], encoder=SMALL,
                               position_linear_gain=8.0, max_length=24)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        enable_checkpointing=False, accelerator="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, datamodule=data)  # every training and validation sequence has 24 bases
        with pytest.raises(ValueError, match=r"at most max_length=24 bases; sequence 'longer' has 32"):
            trainer.predict(model, datamodule=data)


def test_cls_pooling_needs_a_bidirectional_encoder():
    with pytest.raises(ValueError, match="pooling='cls' needs a bidirectional encoder"):
        SequenceClassifier(classes=2, encoder=TitansConfig(**{**SMALL.to_dict(), "causal": True}), pooling="cls")


def test_long_sequences_leave_the_mode_as_it_was_also_on_error():
    model = SequenceClassifier(classes=2, encoder=TitansConfig(**{**SMALL.to_dict(), "causal": False}), patch=4)
    assert model.training
    with pytest.raises(ValueError, match="needs max_length"):
        model.classify_long("ACGT" * 100)
    assert model.training


def test_kmer_tokens_are_the_k_bases_ending_at_each_position():
    torch.manual_seed(0)
    embedding = DNAEmbedding(DNATokenizer.vocab_size, 8, kmer=3)
    ids = DNATokenizer().batch(["ACGTNAC"], 9)
    h, present = embedding(ids)
    table, bases = embedding.kmers.weight, embedding.embed(ids)[0]
    code = {"ACG": 0 * 16 + 1 * 4 + 2, "CGT": 1 * 16 + 2 * 4 + 3}
    expected = [bases[0], bases[1], bases[2] + table[code["ACG"]], bases[3] + table[code["CGT"]]]
    torch.testing.assert_close(h[0, :4], torch.stack(expected))
    # A k-mer holding N or padding adds nothing: positions 4-8 have an N or padding among their last 3 bases.
    torch.testing.assert_close(h[0, 4:], bases[4:])
    assert present[0].tolist() == [True] * 7 + [False] * 2
    with pytest.raises(ValueError, match="kmer must be between"):
        DNAEmbedding(DNATokenizer.vocab_size, 8, kmer=13)


def test_kmer_linear_term_is_linear_in_the_kmer_frequencies():
    torch.manual_seed(0)
    model = SequenceClassifier(classes=2, encoder=SMALL, kmer=3, kmer_linear_gain=8.0).eval()
    sequence = "ACGTNACGGTACG"
    ids = DNATokenizer().batch([sequence], 16)
    weights = torch.randn(4**3, 2)
    with torch.no_grad():
        model.network.kmer_linear.weight[:-1] = weights
        with_term = model(ids)
        model.network.kmer_linear.weight.zero_()
        without = model(ids)
    # The k-mers of A/C/G/T only (none across the N), counted from the string itself.
    kmers = [sequence[i: i + 3] for i in range(len(sequence) - 2) if "N" not in sequence[i: i + 3]]
    code = lambda kmer: sum("ACGT".index(base) * 4 ** (2 - j) for j, base in enumerate(kmer))  # noqa: E731
    expected = 8.0 * sum(weights[code(kmer)] for kmer in kmers) / len(kmers)
    torch.testing.assert_close(with_term - without, expected.unsqueeze(0), rtol=1e-5, atol=1e-5)


def test_position_term_is_linear_in_each_positions_dinucleotide():
    torch.manual_seed(0)
    model = SequenceClassifier(classes=2, encoder=SMALL, kmer=3, position_linear_gain=8.0, max_length=16).eval()
    sequence = "ACGTNACGGTACG"
    ids = DNATokenizer().batch([sequence], 16)
    weights = torch.randn(15, 16, 2)  # (position, dinucleotide, class)
    with torch.no_grad():
        model.network.position_linear.weight[:-1] = weights.flatten(0, 1)
        with_term = model(ids)
        model.network.position_linear.weight.zero_()
        without = model(ids)
    # Each position's dinucleotide, from the string itself: none across the N or past the end.
    pairs = [(i, sequence[i: i + 2]) for i in range(len(sequence) - 1) if "N" not in sequence[i: i + 2]]
    code = lambda pair: "ACGT".index(pair[0]) * 4 + "ACGT".index(pair[1])  # noqa: E731
    expected = 8.0 * sum(weights[i, code(pair)] for i, pair in pairs) / len(pairs)
    torch.testing.assert_close(with_term - without, expected.unsqueeze(0), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="at most max_length=16 bases, got 20"):
        model(DNATokenizer().batch([sequence], 20))
    with pytest.raises(ValueError, match="not streams"):
        model.network.stream_logits(ids, 8)
    assert model(DNATokenizer().batch(["A"], 1)).shape == (1, 2)  # a single base holds no dinucleotide
    unbuilt = SequenceClassifier(classes=2, encoder=SMALL, position_linear_gain=8.0)  # sized by max_length, not given
    with pytest.raises(ValueError, match=r"built once max_length \(model='cnn' and position_linear_gain need it\)"):
        unbuilt(ids)
    with pytest.raises(ValueError, match="position_linear_gain needs max_length >= 2"):
        SequenceNetwork(2, SMALL, position_linear_gain=8.0)
    for bad, message in ((dict(position_linear_gain=-1.0), "must be a finite number >= 0, got -1.0"),
                         (dict(model="cnn", position_linear_gain=1.0), "must be 0 .* with model='titans'")):
        with pytest.raises(ValueError, match=f"position_linear_gain {message}"):
            SequenceClassifier(classes=2, max_length=64, **bad)


def test_halving_schedule_keeps_two_epochs_at_the_rate_then_halves():
    model = SequenceClassifier(classes=2, model="cnn", max_length=64, learning_rate=8e-3, lr_schedule="halving")
    config = model.configure_optimizers()
    rates = []
    for _ in range(4):
        rates.append(config["optimizer"].param_groups[0]["lr"])
        config["lr_scheduler"].step()
    assert rates == pytest.approx([8e-3, 8e-3, 4e-3, 2e-3])


def test_cnn_baseline_in_the_same_harness_and_bad_arguments(tmp_path):
    model = SequenceClassifier(classes=2, model="cnn", max_length=64)
    assert model(DNATokenizer().batch(["ACGT" * 16] * 3, 64)).shape == (3, 2)
    with pytest.raises(ValueError, match="pooling must be one of"):
        SequenceClassifier(pooling="max")
    with pytest.raises(ValueError, match="class_names has 1 names for 2 classes"):
        SequenceClassifier(classes=2, class_names=["a"])
    with pytest.raises(ValueError, match="model must be"):
        SequenceClassifier(model="rnn")
    with pytest.raises(ValueError, match="lr_schedule must be one of cosine, halving, got 'step'"):
        SequenceClassifier(lr_schedule="step")
    for bad, message in ((dict(kmer_linear_gain=1.0), "must be 0"),
                         (dict(kmer=6, kmer_linear_gain=-1.0), "must be a finite number >= 0"),
                         (dict(kmer=3, kmer_linear_gain="1"), "must be a finite number >= 0, got '1'"),  # was '<'
                         (dict(model="cnn", kmer=6, kmer_linear_gain=1.0), "must be 0")):
        with pytest.raises(ValueError, match=f"kmer_linear_gain {message}"):
            SequenceClassifier(classes=2, max_length=64, **bad)
    # Refused when made, not inside AdamW at the first step (a string) or never (a negative rate).
    for name, value, message in (("learning_rate", "1e-3", "a positive finite number"),
                                 ("learning_rate", -1e-3, "a positive finite number"),
                                 ("weight_decay", -0.1, "a finite number >= 0")):
        for task in (SequenceClassifier, Forecaster):
            with pytest.raises(ValueError, match=f"{name} must be {message}"):
                task(**{name: value})
    with pytest.raises(ValueError, match=r"ids must be an int64 or int32 tensor of token ids \(batch, length\), got "
                                         r"\(64,\) torch.int64"):
        model(torch.full((64,), 3))  # an IndexError deep in the network
    with pytest.raises(ValueError, match=r"ids must be DNATokenizer's token ids, in \[0, 8\), got values from 3 to 9"):
        model(torch.tensor([[3] * 63 + [9]]))
    for name, value in (("classes", 2.5), ("classes", "3"), ("max_length", 0), ("max_length", 2.5), ("patch", 0)):
        with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
            SequenceClassifier(**{name: value})
    for name in ("rc_average", "strand_aware"):
        with pytest.raises(ValueError, match=f"{name} must be True or False, got 'false'"):
            SequenceClassifier(**{name: "false"})
    with pytest.raises(ValueError, match=r"the CNN reads \(batch, 64\) token ids"):
        model(DNATokenizer().batch(["ACGT" * 20] * 3, 80))
    with torch.no_grad():  # a batch padded only to its own longest sequence is padded to the CNN's length
        torch.testing.assert_close(model.eval()(DNATokenizer().batch(["ACGT" * 10] * 3, 40)),
                                   model(DNATokenizer().batch(["ACGT" * 10] * 3, 64)))
    with pytest.raises(ValueError, match="windows_per_batch must be a positive integer"):
        model.classify_long("ACGT" * 40, windows_per_batch=0)
    with pytest.raises(ValueError, match="the network is built once classes is known"):
        SequenceClassifier(max_length=4).classify_long("ACGT")
    # A CNN sized for one length meets a DataModule of another before any batch is read.
    data = SequenceCSVDataModule(path=str(motif_table(tmp_path / "m.csv", n=40, length=80)), batch_size=8)
    trainer = L.Trainer(fast_dev_run=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu")
    with pytest.raises(ValueError, match="max_length=64 bases but the DataModule's are 80"):
        trainer.fit(SequenceClassifier(classes=2, model="cnn", max_length=64), datamodule=data)


def test_streaming_pieces_must_be_whole_patches():
    """A piece that ends inside a patch would put that patch's padding in the middle of the sequence."""
    encoder = TitansConfig(**{**SMALL.to_dict(), "causal": True})
    network = SequenceClassifier(classes=2, encoder=encoder, patch=4).network
    ids = DNATokenizer().batch(["ACGT" * 16], 64)
    for piece in (10, 0):
        with pytest.raises(ValueError, match=f"piece must be a positive multiple of the patch \\(4\\), got {piece}"):
            network.stream_logits(ids, piece)


def test_float16_weights_are_refused_for_training():
    """The classifier shares the forecaster's optimiser, which divides by zero in float16 (precision="16-true")."""
    with pytest.raises(ValueError, match=r"weights are float16"):
        SequenceClassifier(classes=2, encoder=SMALL).half().configure_optimizers()
    frozen = SequenceClassifier(classes=2, encoder=SMALL)  # a float16 weight that is not trained is no trouble
    frozen.network.embedding.requires_grad_(False).half()
    assert frozen.configure_optimizers()["optimizer"]
