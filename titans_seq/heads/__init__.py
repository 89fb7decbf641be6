"""Input adapters and output heads around the encoder, per domain."""

from titans_seq.heads.dna import DNAEmbedding, kmer_codes, masked_pool
from titans_seq.heads.forecast import ChannelMixer, ForecastHead, LearnedCycle, PatchEmbedding, RevIN

__all__ = ["ChannelMixer", "DNAEmbedding", "ForecastHead", "LearnedCycle", "PatchEmbedding", "RevIN", "kmer_codes",
           "masked_pool"]
