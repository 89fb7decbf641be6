"""LightningModules: the forecaster and the sequence classifier (loss, metrics, optimiser)."""

from titans_seq.data.times import future_index, time_step
from titans_seq.tasks.classifier import DNA_ENCODER, SequenceClassifier, SequenceNetwork
from titans_seq.tasks.forecaster import FORECAST_ENCODER, Forecaster, TitansForecastNetwork, pinball_loss
from titans_seq.tasks.training import best_checkpoint_trainer

__all__ = ["DNA_ENCODER", "FORECAST_ENCODER", "Forecaster", "SequenceClassifier", "SequenceNetwork",
           "TitansForecastNetwork", "best_checkpoint_trainer", "future_index", "pinball_loss", "time_step"]
