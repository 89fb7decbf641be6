"""The Titans neural long-term memory: the chunked update, memory models and the module."""

from titans_seq.memory.models import ChunkStepper, MemoryMLP
from titans_seq.memory.module import MemoryState, NeuralMemory, detach_state
from titans_seq.memory.scan import neural_memory_scan, read_memory

__all__ = ["ChunkStepper", "MemoryMLP", "MemoryState", "NeuralMemory", "detach_state", "neural_memory_scan",
           "read_memory"]
