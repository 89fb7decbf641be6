"""titans_seq: long-horizon forecasting and DNA sequence classification with Titans neural memory."""

__version__ = "0.1.0"
