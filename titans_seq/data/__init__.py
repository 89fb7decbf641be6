"""Data: dataset files (locate, verify, download), time-series DataModules, DNA sequences."""

from titans_seq.data.dna import (
    DNATokenizer,
    read_fasta,
    read_fasta_per_class,
    read_labelled_fasta,
    read_sequence_table,
    reverse_complement,
)
from titans_seq.data.files import DataFile, locate
from titans_seq.data.genomics import (
    FastaDataModule,
    GenomicBenchmarksDataModule,
    SequenceCSVDataModule,
    SequenceDataModule,
    cross_validation_fold,
    interleaved_order,
    stratified_split,
)
from titans_seq.data.timeseries import (
    CSVDataModule,
    ETTDataModule,
    Series,
    TimeSeriesDataModule,
    WeatherDataModule,
    WindowDataset,
    read_series,
)

__all__ = ["CSVDataModule", "DNATokenizer", "DataFile", "ETTDataModule", "FastaDataModule",
           "GenomicBenchmarksDataModule", "SequenceCSVDataModule", "SequenceDataModule", "Series",
           "TimeSeriesDataModule", "WeatherDataModule", "WindowDataset", "cross_validation_fold", "interleaved_order",
           "locate", "read_fasta", "read_fasta_per_class", "read_labelled_fasta", "read_sequence_table", "read_series",
           "reverse_complement", "stratified_split"]
