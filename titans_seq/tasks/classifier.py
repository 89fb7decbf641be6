"""``SequenceClassifier``: the DNA classification LightningModule (model, loss, metrics, optimiser)."""

from __future__ import annotations

from typing import Literal, get_args

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import AUROC, Accuracy, F1Score, MatthewsCorrCoef

from titans_seq._checks import flag, is_int, nonnegative_number, positive_int
from titans_seq.baselines import GenomicBenchmarksCNN
from titans_seq.data.dna import DNATokenizer
from titans_seq.heads.dna import POOLINGS, DNAEmbedding, Pooling, kmer_codes, masked_pool
from titans_seq.layers import EncoderFields, TitansConfig, TitansEncoder
from titans_seq.tasks.metrics import FullPrecisionEvaluation, MeanLoss, float32_default
from titans_seq.tasks.modes import evaluation_mode
from titans_seq.tasks.optim import LRSchedule, adamw_with_schedule, check_optimizer, resume_at_own_rates
from titans_seq.tasks.training import attached_datamodule, plain_hyperparameters, record_class_path

__all__ = ["DNA_ENCODER", "SequenceClassifier", "SequenceNetwork"]

# The encoder the classifier uses unless given another: small, bidirectional, MAC over segments of 64.
DNA_ENCODER = TitansConfig(variant="mac", dim=64, depth=2, heads=4, window=64, segment_len=64, causal=False,
                           persistent_tokens=4, memory_depth=2, memory_expansion=2.0, memory_chunk=16, ff_mult=2.0,
                           dropout=0.1)


ClassifierModel = Literal["titans", "cnn"]


class SequenceNetwork(nn.Module):
    """Embedding (per base or per ``patch`` bases, with optional ``kmer`` tokens), a Titans encoder,
    pooling, a linear class head; optionally plus a linear term in the sequence's k-mer frequencies.

    ``kmer_linear_gain > 0`` adds to the logits the mean, over the sequence's k-mers, of a per-class
    weight for each k-mer (zero at the start): a logistic regression on k-mer frequencies trained with
    the network, the *wide* part of wide & deep (Cheng et al. 2016). Its table is used multiplied by
    the gain, so under Adam it learns that many times faster than the network's weights (and its
    decoupled weight decay is that many times weaker): Adam moves a weight by about the learning rate per
    step, and a few hundred steps of 1e-3 leave a mean over hundreds of k-mers near zero. The gain that
    works scales as 1 / (learning rate x training steps): about 100 / (lr x steps) on the benchmarks.

    ``strand_aware`` gives each strand its own class head over the shared pooled features: what the
    encoder learns serves both strands, while the read-out, like a logistic regression on one strand's
    k-mers, can weigh a motif and its reverse complement differently. ``forward(ids, reverse)`` takes a
    ``(B,)`` bool per sequence, True where the encoder reads the reverse complement of the given ids and
    the reverse head reads it out (``None``: all as given). The k-mer term always counts the given
    strand's k-mers, whichever strand the encoder reads: it is a logistic regression on that strand,
    every sequence training its one weight table.

    ``position_linear_gain > 0`` adds a second wide term for sequences aligned on a landmark (promoters cut
    around their TSS): the mean, over the positions of the given strand, of a per-class weight for the
    dinucleotide starting at each position (zero at the start; the same gain rule). Mean pooling keeps
    what the encoder found, not where: this term weighs where. It needs ``max_length``, the longest
    sequence it reads; position ``i`` is base ``i`` of the ids as given (after the DataModule's
    padding or crop). It suits sequences of one length: a reverse complement (strand-blind training's
    flips, ``rc_average`` without ``strand_aware``) keeps its padding at the end, so in a shorter sequence
    the flipped positions count from the other end.
    """

    def __init__(self, classes: int, encoder: TitansConfig, pooling: str = "mean", patch: int = 1, kmer: int = 0,
                 kmer_linear_gain: float = 0.0, strand_aware: bool = False, position_linear_gain: float = 0.0,
                 max_length: int | None = None):
        super().__init__()
        if kmer_linear_gain and not kmer:
            raise ValueError("kmer_linear_gain needs kmer > 0 (the k-mers it weighs)")
        if pooling == "cls" and encoder.causal:
            raise ValueError("pooling='cls' needs a bidirectional encoder (causal=False): the CLS token comes first, "
                             "where a causal encoder lets it see only itself")
        if position_linear_gain and (max_length is None or max_length < 2):
            raise ValueError(f"position_linear_gain needs max_length >= 2 (the positions it weighs), got {max_length}")
        self.pooling, self.kmer_linear_gain = pooling, kmer_linear_gain
        self.position_linear_gain, self.max_length = position_linear_gain, max_length
        self.embedding = DNAEmbedding(DNATokenizer.vocab_size, encoder.dim, patch, kmer=kmer)
        self.cls = nn.Parameter(torch.randn(encoder.dim) * 0.02) if pooling == "cls" else None
        self.encoder = TitansEncoder(encoder)
        self.head = nn.Linear(encoder.dim, classes)
        self.reverse_head = nn.Linear(encoder.dim, classes) if strand_aware else None
        self.tokenizer = DNATokenizer()
        self.kmer_linear = None
        if kmer_linear_gain:
            self.kmer_linear = nn.Embedding(4**kmer + 1, classes, padding_idx=4**kmer)
            nn.init.zeros_(self.kmer_linear.weight)
        self.position_linear = None
        if position_linear_gain:
            slots = 16 * (max_length - 1)  # a dinucleotide at each position but the last; the extra row: none
            self.position_linear = nn.Embedding(slots + 1, classes, padding_idx=slots)
            nn.init.zeros_(self.position_linear.weight)

    def forward(self, ids: Tensor, reverse: Tensor | None = None) -> Tensor:
        read = ids if reverse is None else torch.where(reverse.unsqueeze(1),
                                                       self.tokenizer.reverse_complement_ids(ids), ids)
        x, present = self.embedding(read)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], 1, -1).to(x.dtype), x], dim=1)
            present = torch.cat([present.new_ones(present.shape[0], 1), present], dim=1)
        h, _ = self.encoder(x, present=present)
        logits = self._read_out(masked_pool(h, present, self.pooling), reverse)
        if self.kmer_linear is not None:
            logits = logits + self._mean_term(self.kmer_linear_gain, *self._kmer_sums(ids))
        if self.position_linear is not None:
            logits = logits + self._position_term(ids)
        return logits

    def _read_out(self, pooled: Tensor, reverse: Tensor | None) -> Tensor:
        """Class logits of the pooled features, by each sequence's strand's head."""
        logits = self.head(pooled)
        if self.reverse_head is None or reverse is None:
            return logits
        return torch.where(reverse.unsqueeze(1), self.reverse_head(pooled), logits)

    @staticmethod
    def _table_sums(table: nn.Embedding, index: Tensor) -> tuple[Tensor, Tensor]:
        """A wide term's weights of ``index`` ``(B, T)`` summed ``(B, classes)``, and how many were not its
        padding row ``(B, 1)``."""
        return table(index).sum(1), (index != table.padding_idx).sum(1, keepdim=True)

    def _kmer_sums(self, ids: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The summed k-mer weights ``(B, classes)`` of ``ids`` and the number of k-mers ``(B, 1)``."""
        return self._table_sums(self.kmer_linear, self.embedding.kmer_ids(ids, context))

    @staticmethod
    def _mean_term(gain: float, weights: Tensor, count: Tensor) -> Tensor:
        return gain * weights / count.clamp_min(1)

    def _position_term(self, ids: Tensor) -> Tensor:
        """The position term's logits ``(B, classes)``: its weights of each position's dinucleotide, averaged."""
        if ids.shape[1] > self.max_length:
            raise ValueError(f"the position term reads sequences of at most max_length={self.max_length} bases, "
                             f"got {ids.shape[1]}")
        codes = kmer_codes(ids, 2)
        none = self.position_linear.padding_idx
        slots = torch.where(codes < 16, codes + 16 * torch.arange(codes.shape[1], device=ids.device), none)
        return self._mean_term(self.position_linear_gain, *self._table_sums(self.position_linear, slots))

    @torch.no_grad()
    def stream_logits(self, ids: Tensor, piece: int, reverse: bool = False) -> Tensor:
        """Logits of one very long unpadded sequence ``(1, L)`` (token ids of any integer dtype: ``uint8`` takes a
        byte a base) read in pieces by a causal encoder, the state carried and the pooled summary kept as a running
        sum: memory beyond the ids independent of ``L``. ``reverse`` reads the reverse complement by the reverse
        strand's head, as :meth:`forward` does (the k-mer term still counts the given strand). ``piece`` must be a
        multiple of the embedding's patch."""
        patch = self.embedding.patch
        if not is_int(piece) or piece < 1 or piece % patch:
            raise ValueError(f"piece must be a positive multiple of the patch ({patch}), got {piece!r}")
        if self.position_linear is not None:
            raise ValueError("a network with a position term reads aligned sequences of at most max_length bases, "
                             "not streams")
        read = self.tokenizer.reverse_complement_unpadded(ids, piece) if reverse else ids
        state, total, count, last = None, 0, 0, None
        read_context = kmer_context = None
        kmer_weights, kmer_count = 0, 0
        for part, given in zip(read.split(piece, dim=1), ids.split(piece, dim=1), strict=True):
            part, given = part.long(), given.long()
            if self.kmer_linear is not None:
                weights, found = self._kmer_sums(given, kmer_context)
                kmer_weights, kmer_count = kmer_weights + weights, kmer_count + found
                kmer_context = self._context_after(kmer_context, given)
            x, present = self.embedding(part, read_context)
            h, state = self.encoder(x, state)
            summed = (h * present.unsqueeze(-1)).sum(1)
            total = total + summed
            count += int(present.sum())
            last = h[:, -1]
            read_context = self._context_after(read_context, part)
        pooled = last if self.pooling == "last" else total / max(count, 1)
        logits = self._read_out(pooled, torch.tensor([reverse], device=ids.device))
        if self.kmer_linear is None:
            return logits
        return logits + self._mean_term(self.kmer_linear_gain, kmer_weights, kmer_count)

    def _context_after(self, context: Tensor | None, part: Tensor) -> Tensor | None:
        """The embedding's :attr:`~titans_seq.heads.DNAEmbedding.context` bases before the next part."""
        if not self.embedding.context:
            return None
        seen = part if context is None else torch.cat([context, part], dim=1)
        return seen[:, -self.embedding.context:]


def check_uncropped(sequences: list, names: list, max_length: int, name: str) -> None:
    """A classifier with a position term reads aligned sequences whole: none of ``sequences`` (strings or token
    arrays, called ``names``) may be longer than ``max_length`` (called ``name``)."""
    too_long = next((i for i, s in enumerate(sequences) if len(s) > max_length), None)
    if too_long is not None:
        raise ValueError(f"a classifier with a position term reads aligned sequences of at most {name}={max_length} "
                         f"bases; sequence {names[too_long]!r} has {len(sequences[too_long])} (cropping it would "
                         f"move its positions)")


class SequenceClassifier(FullPrecisionEvaluation, L.LightningModule):
    """Classifies DNA token ids ``(B, L)`` into ``classes`` (names kept in ``class_names``).

    Args:
        classes, class_names: the number of classes and their names, stored with the model (``None``:
            taken from the DataModule when training starts).
        model: ``"titans"`` or ``"cnn"`` (the Genomic Benchmarks CNN, trained in the same harness).
        encoder: the Titans encoder (default ``DNA_ENCODER``, bidirectional MAC), or a dict of the fields to change
            in it. pooling: ``"mean"``, ``"cls"`` or ``"last"``. patch: bases per token (1 = single-nucleotide).
            kmer: also embed the overlapping k-mer ending at each base (0: off; see
            :class:`~titans_seq.heads.DNAEmbedding`).
        kmer_linear_gain: above 0, add a linear term in the sequence's k-mer frequencies to the logits,
            learning that many times faster than the network (0: off; see :class:`SequenceNetwork`).
        position_linear_gain: above 0, add a linear term in the dinucleotide at each position, for sequences
            aligned on a landmark such as a TSS (0: off; needs ``max_length``; see :class:`SequenceNetwork`).
        max_length: training length (the CNN's input size; the window for long sequences; ``None``: the
            DataModule's).
        rc_average: at inference, average the class probabilities of each sequence and its reverse
            complement, which makes predictions invariant to the strand (with ``strand_aware``: the
            reverse complement read as the reverse strand).
        strand_aware: for sequences whose strand carries meaning (promoters read from their TSS): every
            training batch is reverse-complemented at random here and each strand read out by its own
            class head (:class:`SequenceNetwork`), so both strands share what the encoder learns without
            being made equal. Titans only; the DataModule must not reverse-complement too
            (``rc_augment=False``). The k-mer linear term, if any, reads the given strand only.
        learning_rate, weight_decay: AdamW. lr_schedule: ``"cosine"`` (annealed over the epochs;
            over the steps where the trainer sets ``max_steps``) or ``"halving"``
            (two epochs at the full rate, then halved after every epoch).
    """

    full_precision = ("metrics", "losses")

    def __init__(self, classes: int | None = None, class_names: list[str] | None = None,
                 model: ClassifierModel = "titans",
                 encoder: EncoderFields | TitansConfig | None = DNA_ENCODER, pooling: Pooling = "mean", patch: int = 1,
                 kmer: int = 0, kmer_linear_gain: float = 0.0, max_length: int | None = None, rc_average: bool = False,
                 strand_aware: bool = False, position_linear_gain: float = 0.0, learning_rate: float = 1e-3,
                 weight_decay: float = 0.01, lr_schedule: LRSchedule = "cosine"):
        super().__init__()
        check_optimizer(learning_rate, weight_decay, lr_schedule)
        if model not in get_args(ClassifierModel):
            raise ValueError(f"model must be one of {', '.join(get_args(ClassifierModel))}, got {model!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        for name, value in (("patch", patch), ("max_length", max_length), ("classes", classes)):
            if value is not None:
                positive_int(name, value)
        for name, value in (("rc_average", rc_average), ("strand_aware", strand_aware)):
            flag(name, value)
        if classes is None and class_names is not None:
            classes = len(class_names)
        if class_names is not None and len(class_names) != classes:
            raise ValueError(f"class_names has {len(class_names)} names for {classes} classes")
        nonnegative_number("kmer_linear_gain", kmer_linear_gain)
        nonnegative_number("position_linear_gain", position_linear_gain)
        if kmer_linear_gain and (model != "titans" or not kmer):
            raise ValueError(f"kmer_linear_gain must be 0 (off) or positive with model='titans' and kmer > 0, "
                             f"got {kmer_linear_gain} (model={model!r}, kmer={kmer})")
        if position_linear_gain and model != "titans":
            raise ValueError(f"position_linear_gain must be 0 (off) or positive with model='titans', "
                             f"got {position_linear_gain} (model={model!r})")
        if strand_aware and model != "titans":
            raise ValueError(f"strand_aware needs model='titans', got model={model!r}")
        if classes is not None and classes < 2:
            raise ValueError(f"classes must be >= 2, got {classes}")
        encoder = TitansConfig.coerce(encoder, DNA_ENCODER)
        self.encoder_config, encoder = encoder, encoder.to_dict()  # checkpoints hold plain values
        class_names = [str(c) for c in class_names] if class_names is not None else None
        self.save_hyperparameters()
        plain_hyperparameters(self)
        record_class_path(self)
        self.tokenizer = DNATokenizer()
        self.network = None
        # The CNN and the position term are sized by max_length: without it, built when the DataModule gives it.
        if classes is not None and ((model == "titans" and not position_linear_gain) or max_length is not None):
            self._build(classes, class_names, max_length)

    def _build(self, classes: int, class_names: list[str] | None, max_length: int | None) -> None:
        """Create the network and metrics (the sizes recorded in the hyper-parameters for checkpoints)."""
        h = self.hparams
        h.classes, h.class_names, h.max_length = classes, class_names, max_length
        plain_hyperparameters(self)  # numpy's numbers too
        self.class_names = class_names or [str(i) for i in range(classes)]
        self.network = (SequenceNetwork(classes, self.encoder_config, h.pooling, h.patch, h.kmer, h.kmer_linear_gain,
                                        h.strand_aware, h.position_linear_gain, max_length)
                        if h.model == "titans"
                        else GenomicBenchmarksCNN(DNATokenizer.vocab_size, max_length, classes))
        task = dict(task="binary") if classes == 2 else dict(task="multiclass", num_classes=classes)
        f1 = dict(task="binary") if classes == 2 else dict(task="multiclass", num_classes=classes, average="macro")
        with float32_default():
            self.metrics = nn.ModuleDict({split: MetricCollection({
                "accuracy": Accuracy(**task), "mcc": MatthewsCorrCoef(**task), "f1": F1Score(**f1),
                "auroc": AUROC(**task),
            }, prefix=f"{split}_") for split in ("val", "test")})
            self.losses = nn.ModuleDict({split: MeanLoss() for split in ("val", "test")})

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        resume_at_own_rates(checkpoint, self.hparams.learning_rate, self.hparams.weight_decay)

    def setup(self, stage: str) -> None:
        self.setup_with(attached_datamodule(self), stage)

    def setup_with(self, datamodule, stage: str) -> None:
        """``setup`` with ``datamodule`` given, not the trainer's: builds the network from the data where it is not
        built and checks that the data fits it. The command line calls it before a run, so that data that does not
        fit stops it before Lightning makes its log folders."""
        if self.hparams.strand_aware and getattr(datamodule, "rc_augment", False):
            raise ValueError("strand_aware reverse-complements training batches itself and must know which "
                             "strand it reads: build the DataModule with rc_augment=False")
        if self.network is None and datamodule is None:
            raise ValueError(self._unbuilt())
        if datamodule is None or not hasattr(datamodule, "class_names"):
            return
        datamodule.setup(stage)
        if self.hparams.classes is not None:
            self._check_classes(datamodule.class_names)
        length = self.hparams.max_length
        if self.hparams.model == "cnn" and self.network is not None and datamodule.max_length != length:
            raise ValueError(f"the CNN reads sequences of max_length={length} bases but the DataModule's are "
                             f"{datamodule.max_length}: give both the same max_length")
        if self.network is None:
            self._build(len(datamodule.class_names), self.hparams.class_names or datamodule.class_names,
                        self.hparams.max_length or datamodule.max_length)
        records = getattr(datamodule, "records", None)
        if self.hparams.position_linear_gain and records is not None:  # the DataModule would centre-crop them
            used = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",),
                    "predict": (datamodule.predict_split,)}.get(stage, ())
            for split in used:
                if split in records:
                    check_uncropped(records[split][1], records[split][0], self.hparams.max_length, "max_length")

    def _check_classes(self, names: list[str]) -> None:
        """The DataModule's classes (in its index order) must be this model's; a model built without names takes
        the DataModule's."""
        h = self.hparams
        if len(names) != h.classes:
            raise ValueError(f"the model has {h.classes} classes but the DataModule has {len(names)}: {names}")
        if h.class_names is None:
            h.class_names, self.class_names = list(names), list(names)
        elif list(h.class_names) != list(names):
            raise ValueError(f"class_names {h.class_names} differ from the DataModule's classes {names} (in the order "
                             f"of its class indices); pass those, or leave class_names out to take them")

    def _unbuilt(self) -> str:
        """Why the network is not built yet, and what builds it."""
        h = self.hparams
        needs = "classes" if h.classes is None else "max_length (model='cnn' and position_linear_gain need it)"
        return f"the network is built once {needs} is known: pass it, or train with a DataModule that gives it"

    def forward(self, ids: Tensor) -> Tensor:
        """Class logits ``(B, classes)`` of token ids ``(B, L)`` (:class:`~titans_seq.data.dna.DNATokenizer`'s)."""
        if self.network is None:
            raise ValueError(self._unbuilt())
        if not isinstance(ids, Tensor) or ids.dim() != 2 or ids.dtype not in (torch.int64, torch.int32):
            got = f"{tuple(ids.shape)} {ids.dtype}" if isinstance(ids, Tensor) else type(ids).__name__
            raise ValueError(f"ids must be an int64 or int32 tensor of token ids (batch, length), got {got}")
        low, high = (int(bound) for bound in torch.aminmax(ids)) if ids.numel() else (0, 0)
        if not 0 <= low <= high < DNATokenizer.vocab_size:
            raise ValueError(f"ids must be DNATokenizer's token ids, in [0, {DNATokenizer.vocab_size}), got values "
                             f"from {low} to {high}")
        return self.network(ids)

    def probabilities(self, ids: Tensor) -> Tensor:
        """Class probabilities; with ``rc_average``, averaged with the reverse complement's."""
        probs = self(ids).float().softmax(-1)  # float32 also under bf16 autocast: they must sum to one
        if self.hparams.rc_average:
            logits = (self.network(ids, torch.ones(len(ids), dtype=torch.bool, device=ids.device))
                      if self.hparams.strand_aware else self(self.tokenizer.reverse_complement_ids(ids)))
            probs = (probs + logits.float().softmax(-1)) / 2
        return probs

    def training_step(self, batch, batch_idx):
        ids, target = batch
        if self.hparams.strand_aware:
            logits = self.network(ids, torch.rand(len(ids), device=ids.device) < 0.5)
        else:
            logits = self(ids)
        loss = F.cross_entropy(logits, target)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def _evaluate(self, batch, split: str) -> None:
        ids, target = batch
        probs = self.probabilities(ids)
        self.losses[split].update(F.nll_loss(probs.clamp_min(1e-12).log(), target), target.shape[0])
        self.log(f"{split}_loss", self.losses[split], prog_bar=split == "val")
        scores = probs[:, 1] if self.hparams.classes == 2 else probs
        self.metrics[split].update(scores, target)

    def _log_epoch(self, split: str) -> None:
        # Every value as a float: the MCC can come back as an integer tensor.
        values = {name: value.float() for name, value in self.metrics[split].compute().items()}
        self.log_dict(values, prog_bar=split == "val")
        self.metrics[split].reset()

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self):
        self._log_epoch("val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test")

    def on_test_epoch_end(self):
        self._log_epoch("test")

    def predict_step(self, batch, batch_idx):
        ids = batch[0] if isinstance(batch, (list, tuple)) else batch
        return self.probabilities(ids)

    def predictions_frame(self, predictions: list[Tensor], datamodule) -> pd.DataFrame:
        """``predict``'s probabilities on the sequences the DataModule gives it (its test split, or those of its
        ``predict_path``): one row per sequence with its id, its label (where they have one), the predicted class
        and each class's probability."""
        probs = torch.cat(predictions).float().cpu().numpy()
        ids, _, labels = datamodule.records[getattr(datamodule, "predict_split", "test")]
        # In order; fewer rows where predict was limited (limit_predict_batches).
        frame = pd.DataFrame({"id": ids[:len(probs)]})
        if labels is not None:
            frame["label"] = [str(label) for label in labels[:len(probs)]]
        frame["predicted"] = [self.class_names[i] for i in probs.argmax(1)]
        for j, name in enumerate(self.class_names):
            frame[f"p_{name}"] = probs[:, j]
        return frame.set_index("id")

    def configure_optimizers(self):
        return adamw_with_schedule(self, self.hparams.lr_schedule)

    @torch.no_grad()
    def classify_long(self, sequence: str, piece: int = 65536, windows_per_batch: int = 16) -> np.ndarray:
        """Class probabilities of a sequence of any length, in bounded memory.

        A causal Titans encoder streams it in pieces of ``piece`` bases, its state carried, pooling a
        running mean. Otherwise the sequence is read in the fewest windows of ``max_length`` bases that cover it,
        spread evenly from its first base to its last (overlapping), classified a few at a time, and their
        probabilities averaged; with ``rc_average`` the result does not depend on the strand. A model with a
        position term reads aligned sequences of at most ``max_length`` bases, and no longer one.
        """
        network = self.network
        if network is None:
            raise ValueError(self._unbuilt())
        positive_int("piece", piece)
        positive_int("windows_per_batch", windows_per_batch)
        positional = isinstance(network, SequenceNetwork) and network.position_linear is not None
        if positional and len(sequence) > network.max_length:
            raise ValueError(f"this model's position term reads sequences aligned on a landmark, of at most "
                             f"max_length={network.max_length} bases; got one of {len(sequence)}")
        if not sequence:
            raise ValueError("sequence is empty")
        with evaluation_mode(self):
            # A byte a base, each piece or window made int64 as it is read: int64 ids of the whole sequence and their
            # reverse complement took about 35 bytes a base (1 GB for 32 Mb).
            ids = torch.from_numpy(self.tokenizer.encode(sequence, "sequence", np.uint8)).to(self.device)
            if isinstance(network, SequenceNetwork) and network.encoder.config.causal and not positional:
                patch = network.embedding.patch
                piece = max(patch, piece // patch * patch)
                probs = network.stream_logits(ids.unsqueeze(0), piece).float().softmax(-1)[0]
                if self.hparams.rc_average:  # as probabilities() averages the two strands
                    reverse = self.tokenizer.reverse_complement_unpadded
                    other = (network.stream_logits(ids.unsqueeze(0), piece, reverse=True)
                             if self.hparams.strand_aware
                             else network.stream_logits(reverse(ids.unsqueeze(0), piece), piece))
                    probs = (probs + other.float().softmax(-1)[0]) / 2
            else:
                size = self.hparams.max_length
                if size is None:
                    raise ValueError("classify_long with a bidirectional encoder needs max_length, the window size")
                starts, weights = _spread_windows(len(ids), size)
                windows = [ids[start: start + size] for start in starts]
                weights = torch.tensor(weights, device=self.device, dtype=torch.float32)
                total = torch.zeros(self.hparams.classes, device=self.device)
                for start in range(0, len(windows), windows_per_batch):
                    group = windows[start: start + windows_per_batch]
                    batch = torch.stack([F.pad(w.long(), (0, size - len(w))) for w in group])
                    total += (self.probabilities(batch) * weights[start: start + windows_per_batch, None]).sum(0)
                probs = total / weights.sum()
        return probs.cpu().numpy()


def _spread_windows(length: int, size: int) -> tuple[list[int], list[float]]:
    """Starts and weights of the fewest windows of ``size`` that cover ``length`` bases, spread evenly from the first
    base to the last and laid out the same from either end, so that the reverse complement's windows are the
    windows' reverse complements (a middle window that cannot be centred is read at both nearest starts, each
    at half weight). Every window is full where the sequence is (as training windows of that length were)."""
    count = -(-length // size)
    if count == 1:
        return [0], [1.0]
    room = length - size
    first_half = [i * room // (count - 1) for i in range(count // 2)]
    starts, weights = first_half + [room - start for start in first_half], [1.0] * (2 * len(first_half))
    if count % 2:
        middle = {room // 2, (room + 1) // 2}
        starts += sorted(middle)
        weights += [1.0 / len(middle)] * len(middle)
    return starts, weights
