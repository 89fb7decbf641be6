"""titans_seq: long-horizon forecasting and DNA sequence classification with Titans neural memory."""

__version__ = "0.1.0"
__all__ = ["TitansForecaster", "TitansSequenceClassifier", "load"]


def __getattr__(name: str):
    # The estimators on first use: they import Lightning, which ``import titans_seq`` alone need not.
    if name in __all__:
        from titans_seq import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'titans_seq' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
