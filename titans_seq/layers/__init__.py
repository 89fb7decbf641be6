"""Attention with persistent memory, the Titans blocks (LMM, MAC, MAG, MAL) and the encoder stacking them."""

from titans_seq.layers.attention import Attention, AttentionState, RotaryEmbedding, SegmentState
from titans_seq.layers.blocks import LMM, MAC, MAG, MAL, BidirectionalMemory
from titans_seq.layers.config import VARIANTS, EncoderFields, TitansConfig
from titans_seq.layers.encoder import EncoderState, TitansEncoder

__all__ = ["LMM", "MAC", "MAG", "MAL", "VARIANTS", "Attention", "AttentionState", "BidirectionalMemory",
           "EncoderFields", "EncoderState", "RotaryEmbedding", "SegmentState", "TitansConfig", "TitansEncoder"]
