"""LightningModules: the forecaster and the sequence classifier (loss, metrics, optimiser)."""

from titans_seq.tasks.forecaster import Forecaster, TitansForecastNetwork, future_index, pinball_loss

__all__ = ["Forecaster", "TitansForecastNetwork", "future_index", "pinball_loss"]
