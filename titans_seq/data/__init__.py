"""Data: dataset files (locate, verify, download), time-series DataModules, DNA sequences."""

from titans_seq.data.files import DataFile, locate
from titans_seq.data.timeseries import (
    CSVDataModule,
    ETTDataModule,
    Series,
    TimeSeriesDataModule,
    WeatherDataModule,
    WindowDataset,
    read_series,
)

__all__ = ["CSVDataModule", "DataFile", "ETTDataModule", "Series", "TimeSeriesDataModule", "WeatherDataModule",
           "WindowDataset", "locate", "read_series"]
