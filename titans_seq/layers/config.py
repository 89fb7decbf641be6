"""``TitansConfig``: every hyper-parameter of a :class:`~titans_seq.layers.TitansEncoder`, checked on creation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import yaml

from titans_seq._checks import (
    flag,
    head_width,
    hidden_width,
    is_positive_number,
    native,
    nonnegative_int,
    positive_int,
    rate,
)

__all__ = ["VARIANTS", "EncoderFields", "TitansConfig"]

VARIANTS = ("lmm", "mac", "mag", "mal")
# What a task's ``encoder`` argument is on the command line and in config files: the fields to change in the task's
# default TitansConfig. (Typed as a TitansConfig there, a partial mapping would get the class's own defaults for the
# fields it leaves out, not the task's.)
EncoderFields = dict[str, int | float | bool | str | None]


@dataclass(frozen=True)
class TitansConfig:
    """Configuration of a Titans encoder (paper section 4).

    Attributes:
        variant: ``"lmm"`` (memory alone), ``"mac"`` (memory as context), ``"mag"`` (memory as gate)
            or ``"mal"`` (memory as layer).
        dim: model width. depth: number of blocks. heads: attention and memory heads.
        window: sliding-window size of MAG/MAL attention (steps a query reaches, itself included).
        causal: ``True``: no position sees a later one, and long inputs can be streamed with a state.
            ``False``: attention sees both sides and every memory also reads the reversed sequence.
        segment_len: MAC segment length (``None``: ``window``); a multiple of ``memory_chunk``.
        persistent_tokens: learnable input-independent tokens every attention query sees.
        memory_depth, memory_expansion: layers of the memory MLP (1 = linear) and its hidden width factor.
        memory_chunk: tokens per memory chunk (gradients taken at the chunk start).
        memory_max_lr: bound of the inner learning rate (``None``: ``NeuralMemory``'s default).
        ff_mult: hidden width factor of each block's feed-forward. dropout: dropout rate.
    """

    variant: str = "mag"
    dim: int = 128
    depth: int = 2
    heads: int = 4
    window: int = 64
    causal: bool = True
    segment_len: int | None = None
    persistent_tokens: int = 4
    memory_depth: int = 2
    memory_expansion: float = 4.0
    memory_chunk: int = 32
    memory_max_lr: float | None = None
    ff_mult: float = 4.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):  # numpy scalars as Python numbers, which YAML and checkpoints can hold
            object.__setattr__(self, field.name, native(getattr(self, field.name)))
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        for name in ("dim", "depth", "heads", "window", "memory_depth", "memory_chunk"):
            positive_int(name, getattr(self, name))
        if head_width(self.dim, self.heads) % 2:
            raise ValueError(f"dim / heads must be even for rotary positions, got {self.dim // self.heads}")
        nonnegative_int("persistent_tokens", self.persistent_tokens)
        flag("causal", self.causal)
        if self.segment_len is not None:
            positive_int("segment_len", self.segment_len)
        if self.variant == "mac" and self.segment % self.memory_chunk:
            raise ValueError(f"MAC's segment_len ({self.segment}) must be a multiple of memory_chunk "
                             f"({self.memory_chunk}), so each segment starts on a memory chunk")
        hidden_width("ff_mult", self.ff_mult, "dim", self.dim)
        hidden_width("memory_expansion", self.memory_expansion, "the head width dim / heads", self.dim // self.heads)
        if self.memory_max_lr is not None and not is_positive_number(self.memory_max_lr):
            raise ValueError(f"memory_max_lr must be a positive finite number or None, got {self.memory_max_lr!r}")
        rate("dropout", self.dropout)

    @property
    def segment(self) -> int:
        """MAC segment length in effect."""
        return self.segment_len if self.segment_len is not None else self.window

    def to_dict(self) -> dict:
        """The fields as plain values (as checkpoints and configs hold them)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TitansConfig:
        """Build from a mapping; unknown keys are an error that names them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TitansConfig field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)

    @classmethod
    def coerce(cls, value: TitansConfig | dict | None, default: TitansConfig) -> TitansConfig:
        """``value`` as a config: itself, ``default`` with a dict's fields changed, or ``default`` when ``None``."""
        if isinstance(value, dict):
            value = cls.from_dict({**default.to_dict(), **value})
        value = value if value is not None else default
        if not isinstance(value, cls):
            raise TypeError(f"encoder must be a TitansConfig or a dict of its fields, got {type(value).__name__}")
        return value

    def to_yaml(self) -> str:
        """The fields as a YAML mapping, in declaration order."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> TitansConfig:
        """The config a YAML mapping of fields describes (unknown keys are an error, as in :meth:`from_dict`)."""
        values = yaml.safe_load(text)
        if not isinstance(values, dict):
            raise ValueError(f"a TitansConfig YAML must be a mapping of fields, got {type(values).__name__}")
        return cls.from_dict(values)
