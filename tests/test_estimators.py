"""The scikit-learn estimators: the API scikit-learn users rely on, persistence, determinism, bad input."""

import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from Bio.Seq import MutableSeq, Seq
from Bio.SeqRecord import SeqRecord
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from titans_seq.data.genomics import SequenceDataset, stratified_split
from titans_seq.estimators import TitansForecaster, TitansSequenceClassifier, load

TINY = dict(dim=16, depth=1, heads=2, max_epochs=2, patience=1)
MOTIF = "TATAAGGC"


def series(rows=400, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    return pd.DataFrame({"load": 50 + 5 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, rows),
                         "temp": 10 + 2 * np.cos(2 * np.pi * t / 24) + rng.normal(0, 0.3, rows)},
                        index=pd.date_range("2024-01-01", periods=rows, freq="h"))


def motif_data(n=120, length=40, seed=0):
    rng = np.random.default_rng(seed)
    sequences, labels = [], []
    for i in range(n):
        sequence = list(rng.choice(list("ACGT"), length))
        if i % 2:
            at = rng.integers(0, length - len(MOTIF))
            sequence[at: at + len(MOTIF)] = MOTIF
        sequences.append("".join(sequence))
        labels.append("motif" if i % 2 else "plain")
    return sequences, np.array(labels)


@pytest.fixture(scope="module")
def forecaster():
    return TitansForecaster(lookback=48, horizon=12, patch_len=8, stride=8, quantiles=[0.1, 0.9], random_state=0,
                            **TINY).fit(series())


@pytest.fixture(scope="module")
def classifier():
    X, y = motif_data()
    return TitansSequenceClassifier(variant="mag", random_state=0, patch=1, **TINY).fit(X, y)


def test_the_estimators_are_the_packages_own_names_and_load_on_first_use():
    import titans_seq

    assert (titans_seq.TitansForecaster, titans_seq.TitansSequenceClassifier, titans_seq.load) == (
        TitansForecaster, TitansSequenceClassifier, load)
    with pytest.raises(AttributeError, match="no attribute 'TitansClassifier'"):
        titans_seq.TitansClassifier  # noqa: B018
    loaded = subprocess.run([sys.executable, "-c", "import sys, titans_seq; print('lightning' in sys.modules)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"  # importing the package alone stays quick


def test_clone_and_params_round_trip():
    for estimator in (TitansForecaster(lookback=48, dim=16), TitansSequenceClassifier(variant="lmm", patch=2)):
        copy = clone(estimator)
        assert copy.get_params() == estimator.get_params()
        copy.set_params(learning_rate=0.01)
        assert copy.learning_rate == 0.01 and estimator.learning_rate == 1e-3


def test_forecast_index_shape_units_and_quantiles(forecaster):
    frame = forecaster.predict()
    assert list(frame.columns) == ["load", "temp"] and frame.shape == (12, 2)
    assert frame.index[0] == series().index[-1] + pd.Timedelta(hours=1)
    assert forecaster.freq_ == pd.tseries.frequencies.to_offset("h")
    assert 40 < frame["load"].mean() < 60  # original units
    quantiles = forecaster.predict_quantiles(series(200, seed=1))
    assert quantiles.shape == (12, 6) and (quantiles[("load", 0.1)] < quantiles[("load", 0.9)]).all()
    assert forecaster.n_features_in_ == 2 and list(forecaster.feature_names_in_) == ["load", "temp"]
    assert forecaster.score(series(300, seed=2)) > -1.0


def test_classifier_predicts_labels_and_probabilities(classifier):
    X, y = motif_data(40, seed=5)
    assert list(classifier.classes_) == ["motif", "plain"]
    proba = classifier.predict_proba(X)
    assert proba.shape == (40, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert set(classifier.predict(X)) <= {"motif", "plain"}
    assert 0 <= classifier.score(X, y) <= 1


def test_save_load_and_pickle_give_equal_predictions(forecaster, classifier, tmp_path):
    X, _ = motif_data(20, seed=7)
    for estimator, check in ((forecaster, lambda e: e.predict().to_numpy()),
                             (classifier, lambda e: e.predict_proba(X))):
        path = estimator.save(tmp_path / f"{type(estimator).__name__}.pt")
        for again in (type(estimator).load(path), load(path), pickle.loads(pickle.dumps(estimator))):
            np.testing.assert_allclose(check(again), check(estimator), rtol=1e-6, atol=1e-6)
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind
    for other in ([1, 2], {"weights": 1}):  # a list gave AttributeError: 'list' object has no attribute 'get'
        torch.save(other, tmp_path / "other.pt")
        for loader in (load, TitansForecaster.load):  # the class's said "this file holds a None"
            with pytest.raises(ValueError, match=r"other\.pt does not hold a titans_seq estimator"):
                loader(tmp_path / "other.pt")


def test_an_unfitted_estimator_pickled_before_a_parameter_existed_takes_its_default():
    """Unpickled, it lacked the attribute, and get_params, repr, clone and fit raised an AttributeError."""
    for estimator, given in ((TitansForecaster(lookback=24), "lookback"), (TitansSequenceClassifier(kmer=3), "kmer")):
        del estimator.max_steps_per_epoch  # as an estimator pickled before the parameter was added
        again = pickle.loads(pickle.dumps(estimator))
        params = clone(again).get_params()
        assert params["max_steps_per_epoch"] is None and params[given] == getattr(estimator, given)


def test_saving_to_a_bad_path_or_loading_another_file_names_the_path(forecaster, tmp_path):
    """Saving to a folder named a hidden temporary file (IsADirectoryError), under a file said "File exists";
    loading a file cut short said "[Errno 22] Invalid argument", a CSV raised an UnpicklingError."""
    with pytest.raises(ValueError, match=f"the path {tmp_path} is a folder; give a file's path"):
        forecaster.save(tmp_path)
    (tmp_path / "file.pt").write_text("x")
    with pytest.raises(ValueError, match=r"file\.pt/model\.pt lies under .*file\.pt, which is a file"):
        forecaster.save(tmp_path / "file.pt" / "model.pt")
    whole = forecaster.save(tmp_path / "model.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(whole[: len(whole) // 2])
    series().to_csv(tmp_path / "series.csv")
    for name in ("cut.pt", "series.csv"):
        with pytest.raises(ValueError, match=f"{name} is not a file that save\\(\\) wrote, or it was cut short"):
            load(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.pt", "file.pt", "model.pt", "series.csv"]


def test_scikit_learn_conventions_hold_past_pickling_and_misuse(forecaster, classifier):
    """A pickle dropped set_score_request's request (and unpickling moved the user's torch generator); a bare
    array given to a forecaster fitted on named columns went without the warning scikit-learn gives; X, scikit-
    learn's first argument, was silently ignored; verbose refused numpy's False."""
    with sklearn.config_context(enable_metadata_routing=True):
        asked = pickle.loads(pickle.dumps(classifier)).set_score_request(sample_weight=True)
        assert pickle.loads(pickle.dumps(asked)).get_metadata_routing().score.requests == {"sample_weight": True}
    blob = pickle.dumps(classifier)
    draws = []
    for unpickle in (False, True):
        torch.manual_seed(123)
        if unpickle:
            pickle.loads(blob)
        draws.append(torch.rand(1).item())
    assert draws[0] == draws[1]
    with pytest.warns(UserWarning, match=r"y has no column names, but the forecaster was fitted with \['load', "):
        forecaster.predict(series().to_numpy())
    for call in (lambda: TitansForecaster(**{**TINY, "max_epochs": 1}).fit(series(), series()),
                 lambda: forecaster.score(series(), 0)):
        with pytest.warns(UserWarning, match="the second argument X \\(exogenous inputs\\) is not read"):
            call()
    TitansForecaster(verbose=np.False_)._validate_params()


def test_same_random_state_same_predictions_and_silence(capsys):
    X, y = motif_data(60)
    first = TitansSequenceClassifier(variant="mag", random_state=3, patch=1, **TINY).fit(X, y).predict_proba(X)
    second = TitansSequenceClassifier(variant="mag", random_state=3, patch=1, **TINY).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(first, second, rtol=1e-5, atol=1e-6)
    settings = dict(lookback=24, horizon=6, patch_len=8, stride=8, random_state=5, **TINY)
    one = TitansForecaster(**settings).fit(series(200)).predict()
    two = TitansForecaster(**settings).fit(series(200)).predict()
    pd.testing.assert_frame_equal(one, two)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # verbose=False: no progress bars, no log lines


def test_a_seeded_fit_leaves_the_users_random_draws_alone(monkeypatch):
    """seed_everything restarted numpy's, Python's and torch's global generators: a bootstrap loop drew the same
    resample after every fit."""
    import random

    X, y = motif_data(40)
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)  # other tests' seed_everything may have set it
    np.random.seed(42)
    random.seed(42)
    torch.manual_seed(42)
    expected = (np.random.rand(), random.random(), torch.rand(1).item())
    np.random.seed(42)
    random.seed(42)
    torch.manual_seed(42)
    TitansSequenceClassifier(variant="mag", random_state=0, patch=1, **{**TINY, "max_epochs": 1}).fit(X, y)
    assert (np.random.rand(), random.random(), torch.rand(1).item()) == expected
    assert "PL_GLOBAL_SEED" not in os.environ
    with pytest.raises(ValueError, match=r"random_state must be in \[0, 4294967295\], got 4294967296"):
        TitansSequenceClassifier(random_state=2**32).fit(X, y)


def test_a_numpy_random_state_seeds_each_fit_with_a_draw_of_its_own():
    """scikit-learn's convention: a RandomState (or Generator) gives each fit a seed drawn from it, so the same
    generator state repeats a fit and the next fit differs. It was refused ("random_state must be int")."""
    settings = dict(lookback=24, horizon=6, patch_len=8, stride=8, **{**TINY, "max_epochs": 1})
    y = series(200)
    for make in (np.random.RandomState, np.random.default_rng):
        rng = make(7)
        first = TitansForecaster(random_state=rng, **settings).fit(y)
        second = TitansForecaster(random_state=rng, **settings).fit(y)
        again = TitansForecaster(random_state=make(7), **settings).fit(y)
        assert first.seed_ == again.seed_ != second.seed_
        pd.testing.assert_frame_equal(first.predict(), again.predict())
        assert not np.allclose(first.predict().to_numpy(), second.predict().to_numpy())
        by_seed = TitansForecaster(random_state=first.seed_, **settings).fit(y)
        pd.testing.assert_frame_equal(first.predict(), by_seed.predict())
    assert TitansForecaster(random_state=None, **settings).fit(y).seed_ is None
    failed = TitansForecaster(random_state=np.random.RandomState(0), **settings)
    with pytest.raises(ValueError, match="rows"):
        failed.fit(y.iloc[:20])
    with pytest.raises(NotFittedError):  # the seed of a fit that failed made it look fitted to scikit-learn
        sklearn.utils.validation.check_is_fitted(failed)
    with pytest.raises(ValueError, match="rows"):
        first.fit(y.iloc[:20])
    assert first.seed_ == again.seed_  # a failed refit keeps the seed of the fit that made the model
    with pytest.raises(ValueError, match="random_state must be an int, a numpy RandomState or Generator, or None, "
                                         "got 'seven'"):
        TitansForecaster(random_state="seven", **settings).fit(y)


def test_a_fitted_estimator_keeps_no_training_data(monkeypatch):
    """The model kept its trainer, and the trainer the DataModule with every training window: a forecaster fitted on
    2M rows of 20 columns held 1 GB more than its weights, a classifier of 200k sequences 0.5 GB."""
    import gc
    import weakref

    from titans_seq import estimators

    made = []
    for kind in (estimators._SeriesDataModule, estimators._ArraysDataModule):
        def setup(self, stage=None, real=kind.setup):
            made.append(weakref.ref(self))
            return real(self, stage)

        monkeypatch.setattr(kind, "setup", setup)
    forecaster = TitansForecaster(lookback=24, horizon=6, patch_len=8, stride=8, **{**TINY, "max_epochs": 1})
    forecaster.fit(series(200))
    X, y = motif_data(40)
    classifier = TitansSequenceClassifier(variant="mag", patch=1, **{**TINY, "max_epochs": 1}).fit(X, y)
    gc.collect()
    assert made and all(ref() is None for ref in made)
    assert forecaster.predict().shape == (6, 2) and classifier.predict(X).shape == (40,)  # they work on without it


def test_score_sums_errors_batch_by_batch(forecaster):
    """score kept every window's squared errors until the end: 16 KB a window at horizon 96 and 20 channels, about
    16 GB for a million windows. Its peak now grows with the batch, not with the series."""
    script = """
import resource, sys, numpy as np, pandas as pd, torch
from titans_seq.estimators import TitansForecaster
torch.set_num_threads(1)
rng = np.random.default_rng(0)
frame = lambda rows: pd.DataFrame(rng.normal(size=(rows, 20)), index=pd.date_range("2024", periods=rows, freq="h"))
model = TitansForecaster(lookback=16, horizon=96, patch_len=8, stride=8, dim=8, depth=1, heads=1, max_epochs=1,
                         random_state=0).fit(frame(400))
long = frame(40_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model.score(long)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""
    grown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300,
                           env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"})
    assert float(grown.stdout.split()[-1]) < 100  # MiB; 40k windows' errors alone are 300 MiB
    y = series(120, seed=3)  # 61 windows: the score is the mean over them of what predict gives, scaled
    errors = [(forecaster.predict(y.iloc[i: i + 48]).to_numpy() - y.iloc[i + 48: i + 60].to_numpy())
              / forecaster.scaler_scale_ for i in range(61)]
    assert forecaster.score(y) == pytest.approx(-np.mean(np.square(errors)), rel=1e-4)


def test_one_long_sequence_pads_only_its_own_batch():
    """39 sequences of 40 bases and one of 2,000: every batch, in fit and in predict_proba, was padded to 2,000 (a
    warning said so). Each is now padded to its own longest, and what is predicted does not depend on it."""
    X, y = motif_data(40)
    X[0] = X[0] * 50
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = TitansSequenceClassifier(variant="mag", patch=4, random_state=0, validation_fraction=0.5,
                                         **{**TINY, "max_epochs": 1}).fit(X, y)
    assert model.max_length_ == 2000
    np.testing.assert_allclose(model.predict_proba(X)[1:], model.predict_proba(X[1:]), rtol=1e-5, atol=1e-6)


def test_a_diverged_fit_is_an_error_not_a_model_of_nan():
    X, y = motif_data(40)
    with pytest.raises(ValueError, match=r"training diverged: val_loss was never finite .* lower learning_rate"):
        TitansSequenceClassifier(variant="mag", patch=1, learning_rate=1e6, random_state=0,
                                 **{**TINY, "max_epochs": 1}).fit(X, y)


def test_grid_search_and_cross_validation_run():
    X, y = motif_data(60)
    search = GridSearchCV(TitansSequenceClassifier(variant="mag", patch=1, random_state=0, **{**TINY, "max_epochs": 1}),
                          {"learning_rate": [1e-3, 3e-3]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["learning_rate"] in (1e-3, 3e-3)
    scores = cross_val_score(TitansSequenceClassifier(variant="mag", patch=1, random_state=0,
                                                      **{**TINY, "max_epochs": 1}), X, y, cv=2)
    assert scores.shape == (2,) and ((scores >= 0) & (scores <= 1)).all()


def test_kmer_linear_term_learns_base_composition():
    rng = np.random.default_rng(0)
    rich = {"gc": [0.15, 0.35, 0.35, 0.15], "at": [0.35, 0.15, 0.15, 0.35]}  # A, C, G, T
    labels = np.array(["gc", "at"] * 80)
    X = ["".join(rng.choice(list("ACGT"), 40, p=rich[label])) for label in labels]
    # At a learning rate that leaves the network nearly where it started, the gained term still learns.
    scores = {}
    for gain in (0.0, 5000.0):
        model = TitansSequenceClassifier(variant="mag", patch=1, kmer=3, kmer_linear_gain=gain, learning_rate=1e-5,
                                         random_state=0, **TINY).fit(X[:120], labels[:120])
        scores[gain] = model.score(X[120:], labels[120:])
    assert scores[5000.0] > 0.95 and scores[0.0] < 0.9


def test_classes_and_probability_columns_follow_sorted_labels():
    """scikit-learn's convention: ``classes_`` is ``np.unique(y)`` and ``predict_proba``'s columns follow it
    (as text, 10 would sort before 2)."""
    rng = np.random.default_rng(0)
    rich = {10: [0.15, 0.35, 0.35, 0.15], 2: [0.35, 0.15, 0.15, 0.35]}  # A, C, G, T
    labels = np.array([10, 2] * 80)
    X = ["".join(rng.choice(list("ACGT"), 40, p=rich[label])) for label in labels]
    model = TitansSequenceClassifier(variant="mag", patch=1, kmer=3, kmer_linear_gain=5000.0, learning_rate=1e-5,
                                     random_state=0, **TINY).fit(X[:120], labels[:120])
    assert model.classes_.tolist() == [2, 10] and model.classes_.dtype == labels.dtype
    proba = model.predict_proba(X[120:])
    assert roc_auc_score(labels[120:] == 10, proba[:, 1]) > 0.95
    assert (model.predict(X[120:]) == model.classes_[proba.argmax(1)]).all()


def test_position_linear_term_learns_where_a_motif_sits():
    # Both classes hold the same motif, at base 4 or at base 26: the same k-mers, told apart by position alone.
    rng = np.random.default_rng(0)
    labels = np.array(["early", "late"] * 80)
    X = []
    for label in labels:
        sequence = list(rng.choice(list("ACGT"), 40))
        at = 4 if label == "early" else 26
        sequence[at: at + len(MOTIF)] = MOTIF
        X.append("".join(sequence))
    scores = {}
    for gain in (0.0, 1e5):  # each position's weights move in few steps: only the gained term's learn
        model = TitansSequenceClassifier(variant="mag", patch=1, kmer=3, kmer_linear_gain=5000.0,
                                         position_linear_gain=gain, rc_augment=False, rc_average=False,
                                         learning_rate=1e-5, random_state=0, **TINY).fit(X[:120], labels[:120])
        scores[gain] = model.score(X[120:], labels[120:])
    assert scores[1e5] > 0.95 and scores[0.0] < 0.8
    with pytest.raises(ValueError, match="at most max_length=40 bases"):
        model.model_.classify_long("ACGT" * 20)
    with pytest.raises(ValueError, match=r"at most max_length_=40 bases; sequence '1' has 41 \(cropping"):
        model.predict([X[0], X[1] + "A"])
    with pytest.raises(ValueError, match="at most max_length_=40 bases"):  # the fitted model's term, not the parameter
        model.set_params(position_linear_gain=0.0).predict([X[1] + "A"])
    with pytest.raises(ValueError, match=r"at most max_length=30 bases; sequence '0' has 40"):  # fit crops none either
        clone(model).set_params(position_linear_gain=1e5, max_length=30).fit(X[:40], labels[:40])
    # By default the longest of all sequences, validation's too: one longer there was cropped in fit, and
    # predict refused the training sequences.
    names = [str(i) for i in range(40)]
    validated = stratified_split((names, X[:40], list(labels[:40])), (0.9, 0.1), 0)["val"][0]
    longer = [*X[:40]]
    longer[int(validated[0])] += "ACGTACGTAC"
    fitted = clone(model).set_params(position_linear_gain=1e5, max_length=None, max_epochs=1).fit(longer, labels[:40])
    assert fitted.max_length_ == 50 and fitted.predict(longer).shape == (40,)


def test_regularisation_and_options_reach_the_trained_models():
    X, y = motif_data(40)
    classifier = TitansSequenceClassifier(patch=1, dropout=0.3, weight_decay=0.1, strand_aware=True, rc_augment=False,
                                          lr_schedule="halving", random_state=0, **{**TINY, "max_epochs": 1}).fit(X, y)
    assert classifier.model_.network.reverse_head is not None
    forecaster = TitansForecaster(lookback=48, horizon=12, patch_len=8, stride=8, dropout=0.0, weight_decay=0.05,
                                  channel_mixing=True, linear_skip=True, cycle=24, head_patches=3,
                                  lr_schedule="halving", random_state=0, **{**TINY, "max_epochs": 1}).fit(series())
    assert forecaster.model_.hparams.lr_schedule == classifier.model_.hparams.lr_schedule == "halving"
    network = forecaster.model_.network
    assert network.mixer is not None and network.skip is not None and network.cycle.cycle == 24
    assert network.head.patches == 3
    for estimator, dropout, decay in ((classifier, 0.3, 0.1), (forecaster, 0.0, 0.05)):
        assert estimator.model_.hparams.weight_decay == decay
        assert {m.p for m in estimator.model_.modules() if isinstance(m, torch.nn.Dropout)} == {dropout}


def test_a_series_keeps_its_name_and_timestamps():
    y = series(200)["load"]
    model = TitansForecaster(lookback=48, horizon=12, patch_len=8, stride=8, random_state=0, **TINY).fit(y)
    assert list(model.feature_names_in_) == ["load"]
    forecast = model.predict(y)
    assert list(forecast.columns) == ["load"] and forecast.index[0] == y.index[-1] + pd.Timedelta(hours=1)


def test_numpy_scalars_as_parameters():
    """As a grid built with ``np.arange`` gives them to GridSearchCV; the parameters stay as given."""
    y = series(200)
    model = TitansForecaster(lookback=np.int64(48), horizon=np.int64(12), patch_len=np.int32(8), stride=np.int64(8),
                             learning_rate=np.float64(1e-3), random_state=np.int64(0), **TINY).fit(y)
    assert len(model.predict(y)) == 12 and np.isfinite(model.score(y))
    assert type(model.get_params()["lookback"]) is np.int64
    X, labels = motif_data(40)
    classifier = TitansSequenceClassifier(variant="mag", patch=np.int64(1), kmer=np.int64(2), random_state=0,
                                          **TINY).fit(X, labels)
    assert set(classifier.predict(X)) <= {"motif", "plain"}


def test_cycle_places_a_new_series_on_the_training_clock():
    """predict(y) and score(y) read the learned cycle at y's own hours: a timed tail of the training series
    forecasts as the series itself; an array without timestamps starts where the training series started (at
    05:00 here: it was read from midnight of the clock's origin, 8.35 apart)."""
    data = series().set_axis(pd.date_range("2024-01-01 05:00", periods=400, freq="h"))
    model = TitansForecaster(lookback=48, horizon=12, patch_len=8, stride=8, cycle=24, random_state=0,
                             **{**TINY, "max_epochs": 1}).fit(data)
    with torch.no_grad():  # a pronounced cycle, so that reading it at the wrong hours shows
        model.model_.network.cycle.values.normal_(generator=torch.Generator().manual_seed(0))
    pd.testing.assert_frame_equal(model.predict(data.iloc[5:]), model.predict())
    np.testing.assert_allclose(model.predict(data.to_numpy()).to_numpy(), model.predict().to_numpy())
    assert not np.allclose(model.predict(data.iloc[5:].to_numpy()).to_numpy(), model.predict().to_numpy())
    assert model.score(data.iloc[24:]) == pytest.approx(model.score(data.iloc[24:].to_numpy()))
    assert model.score(data.iloc[5:]) != pytest.approx(model.score(data.iloc[5:].to_numpy()))


def test_an_array_fit_records_no_feature_names_and_reads_a_frame_in_order_with_a_warning(forecaster):
    """scikit-learn's convention; before, an array fit recorded names x0, x1 and refused the frame it came from."""
    data = series()
    model = TitansForecaster(lookback=48, horizon=12, patch_len=8, stride=8, random_state=0,
                             **{**TINY, "max_epochs": 1}).fit(data.to_numpy())
    assert not hasattr(model, "feature_names_in_") and list(model.predict().columns) == ["x0", "x1"]
    with pytest.warns(UserWarning, match="fitted on an array without them") as caught:
        framed = model.predict(data)
        model.score(data)
    assert [w.filename for w in caught] == [__file__] * 2  # the user's line, for predict as for score
    np.testing.assert_array_equal(framed.to_numpy(), model.predict(data.to_numpy()).to_numpy())
    one = TitansForecaster(lookback=48, horizon=12, patch_len=8, stride=8, **{**TINY, "max_epochs": 1})
    one.fit(pd.Series(data["load"].to_numpy()))  # an unnamed Series names no column
    assert not hasattr(one, "feature_names_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one.predict(pd.Series(data["load"].to_numpy()))
    assert not hasattr(model.fit(data.to_numpy()), "feature_names_in_")
    refitted = pickle.loads(pickle.dumps(forecaster)).set_params(max_epochs=1).fit(data.to_numpy())
    assert not hasattr(refitted, "feature_names_in_")  # the earlier fit's names are gone


def test_a_series_without_timestamps_is_placed_by_its_index_and_forecasts_continue_it():
    """Before, a cycle read every untimed y from the training series' first row, so score(y[400:]) of a slice
    scored a different phase than the training rows it holds, and forecasts were indexed 0..horizon-1."""
    data = series().reset_index(drop=True).set_axis(range(1000, 1400))  # an integer index, not starting at 0
    model = TitansForecaster(lookback=48, horizon=12, patch_len=8, stride=8, cycle=24, random_state=0,
                             **{**TINY, "max_epochs": 1}).fit(data.iloc[:300])
    with torch.no_grad():
        model.model_.network.cycle.values.normal_(generator=torch.Generator().manual_seed(0))
    assert list(model.predict().index) == list(range(1300, 1312))
    pd.testing.assert_frame_equal(model.predict(data.iloc[:300]), model.predict())
    pd.testing.assert_frame_equal(model.predict(data.iloc[200:300]), model.predict())
    assert list(model.predict(data).index) == list(range(1400, 1412))
    # a window's score follows its rows, not where the slice starts: the same windows, the same errors
    per_window = [model.score(data.iloc[start:start + 60]) for start in (300, 301)]
    assert model.score(data.iloc[300:361]) == pytest.approx(np.mean(per_window))
    state = model._state()
    del state["fitted"]["first_position_"]  # a file saved before it: its untimed y read from the training start
    old = TitansForecaster._from_state(state)
    pd.testing.assert_frame_equal(old.predict(data.iloc[:300]).reset_index(drop=True),
                                  model.predict().reset_index(drop=True))
    unindexed = model.predict(data.iloc[200:300].to_numpy())  # an array starts at the training series' first row
    assert list(unindexed.index) == list(range(1100, 1112))
    assert not np.allclose(unindexed.to_numpy(), model.predict().to_numpy())


def test_y_of_another_time_zone_kind_or_a_finer_step_is_refused(forecaster):
    with pytest.raises(ValueError, match="y's timestamps are with a time zone, but the forecaster was fitted on "
                                         "timestamps without a time zone"):
        forecaster.predict(series(100).tz_localize("UTC"))
    half_hourly = series(100).set_axis(pd.date_range("2024-01-01", periods=100, freq="30min"))
    with pytest.raises(ValueError, match=r"y's timestamps lie 0 days 00:30:00 apart \(the median\), closer than the "
                                         r"fitted series' 0 days 01:00:00"):
        forecaster.predict(half_hourly)
    every_two_hours = series(100).set_axis(pd.date_range("2024-01-01", periods=100, freq="2h"))
    assert forecaster.predict(every_two_hours).index[0] == every_two_hours.index[-1] + pd.Timedelta("1h")
    # what fit takes, predict and score take: here a few hours with a second reading
    extra = series(400).iloc[::10].set_axis(series(400).index[::10] + pd.Timedelta("20min"))
    doubled = pd.concat([series(400), extra]).sort_index()
    model = TitansForecaster(lookback=48, horizon=12, patch_len=8, stride=8, random_state=0,
                             **{**TINY, "max_epochs": 1}).fit(doubled)
    assert model.predict(doubled).shape == (12, 2) and np.isfinite(model.score(doubled.iloc[-60:]))


def test_cycle_places_every_row_by_its_timestamp_across_a_gap():
    """A timed series with a gap: training, predict() and predict(y) place each row by its time, so the rows
    after the gap keep their hours, and a timed tail of the training series forecasts as the series itself."""
    data = series().drop(series().index[200:205])
    model = TitansForecaster(lookback=48, horizon=12, patch_len=8, stride=8, cycle=24, random_state=0,
                             **{**TINY, "max_epochs": 1}).fit(data)
    with torch.no_grad():
        model.model_.network.cycle.values.normal_(generator=torch.Generator().manual_seed(0))
    pd.testing.assert_frame_equal(model.predict(data.iloc[210:]), model.predict())
    clocks = []
    forward = model.model_.forward
    model.model_.forward = lambda x, clock: clocks.append(clock) or forward(x, clock)
    hours = ((data.index - pd.Timestamp("2000-01-01")) // pd.Timedelta("1h")).tolist()  # the clock's origin
    model.predict(data.iloc[150:260])
    assert clocks[-1].tolist() == [hours[212:260] + list(range(hours[259] + 1, hours[259] + 13))]
    model.score(data.iloc[150:260])
    assert clocks[-1].tolist() == [hours[150 + i: 210 + i] for i in range(51)]


def test_classifier_errors_name_the_users_labels_and_parameters():
    X, labels = motif_data(40)
    with pytest.raises(ValueError, match="class 'rare' has a single sequence"):
        TitansSequenceClassifier(**TINY).fit([*X, "ACGTACGT"], [*labels, "rare"])
    with pytest.raises(ValueError, match=r"validation_fraction=0\.05 cannot carve a validation part"):
        TitansSequenceClassifier(validation_fraction=0.05, **TINY).fit(X[:12], ["a", "b", "c"] * 4)


def test_business_days_are_counted_as_such_by_the_clock_and_the_forecast():
    """81 weeks of business days, Monday to Friday, five holidays left out: the clock counts business days (not
    rows, not calendar days), so a weekly cycle is 5 steps and the forecast's Monday follows the last Friday by
    one step, as its timestamp says."""
    business_days = pd.bdate_range("2024-01-01", periods=405)
    data = series().set_axis(business_days.delete([50, 120, 200, 300, 390]))
    model = TitansForecaster(lookback=48, horizon=12, patch_len=8, stride=8, cycle=5, random_state=0,
                             **{**TINY, "max_epochs": 1}).fit(data)
    clocks = []
    forward = model.model_.forward
    model.model_.forward = lambda x, clock: clocks.append(clock) or forward(x, clock)
    forecast = model.predict()
    assert model.freq_ == pd.offsets.BusinessDay()
    assert list(forecast.index) == list(pd.bdate_range(data.index[-1], periods=13)[1:])
    # Business days since the clock's origin, a Saturday, which counts as the Friday before it.
    first = len(pd.bdate_range("2000-01-01", "2024-01-01"))
    assert clocks[-1].tolist() == [[first + i for i in [*business_days.get_indexer(data.index[-48:]),
                                                        *range(405, 417)]]]


def test_a_zoned_series_given_in_another_zone_is_read_in_the_fitted_one():
    """Business days in Berlin, given in UTC (local midnights 22:00 or 23:00 the day before): the same forecast,
    dated in Berlin. pandas failed with 'cannot both be tz-aware with different timezones'."""
    data = series(300).set_axis(pd.bdate_range("2024-01-01", periods=300, tz="Europe/Berlin"))
    model = TitansForecaster(lookback=48, horizon=12, patch_len=8, stride=8, cycle=5, random_state=0,
                             **{**TINY, "max_epochs": 1}).fit(data)
    in_utc = data.tz_convert("UTC")
    pd.testing.assert_frame_equal(model.predict(in_utc), model.predict())
    assert model.score(in_utc.iloc[-100:]) == model.score(data.iloc[-100:])
    with pytest.raises(ValueError, match=r"without a time zone, .* \(Europe/Berlin\): give y's, "
                                         r"y.tz_localize\('Europe/Berlin'\)"):
        model.predict(data.tz_localize(None))


@pytest.mark.parametrize("deterministic, random_state", [(True, None), (False, 0)])
def test_fit_leaves_torchs_deterministic_setting_as_it_was(deterministic, random_state):
    benchmark = torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic
    try:
        TitansForecaster(lookback=48, horizon=12, random_state=random_state, verbose=0,
                         **{**TINY, "max_epochs": 1}).fit(series())
        assert torch.are_deterministic_algorithms_enabled() is deterministic
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.benchmark is not deterministic
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = benchmark


def test_a_forecaster_saved_before_the_fitted_lookback_and_clock_still_forecasts(forecaster):
    state = forecaster._state()
    for name in ("lookback_", "horizon_", "last_clock_"):
        del state["fitted"][name]
    state["fitted"]["n_rows_"] = 400
    old = TitansForecaster._from_state(state)
    pd.testing.assert_frame_equal(old.predict(), forecaster.predict())
    assert old.score(series(200, seed=1)) == forecaster.score(series(200, seed=1))


def test_forecasts_follow_the_fitted_model_and_periods_become_timestamps():
    """Quantiles given as an array; a monthly PeriodIndex read as each month's start; set_params after fit changes
    the next fit, not the fitted model's lookback, horizon or quantiles."""
    monthly = series(120).set_axis(pd.period_range("2010-01", periods=120, freq="M"))
    model = TitansForecaster(lookback=24, horizon=6, patch_len=8, stride=8, quantiles=np.array([0.1, 0.9]),
                             random_state=0, **{**TINY, "max_epochs": 1}).fit(monthly)
    forecast = model.predict()
    assert list(forecast.index) == list(pd.date_range("2020-01-01", periods=6, freq="MS"))
    model.set_params(lookback=32, horizon=3, quantiles=None)
    pd.testing.assert_frame_equal(model.predict(monthly), forecast)
    assert model.predict_quantiles().shape == (6, 6)
    with pytest.raises(ValueError, match="column 'when' holds datetime64"):
        TitansForecaster(**TINY).fit(series().assign(when=series().index))


def test_timestamps_read_back_as_text_are_timestamps(forecaster, tmp_path):
    """read_csv(index_col=0) without parse_dates gives the dates as text; they were taken for no timestamps at all,
    forecasts indexed 0, 1, ... and a cycle placed by row. Text that is not ISO 8601 timestamps stays untimed."""
    series().to_csv(tmp_path / "y.csv")
    text = pd.read_csv(tmp_path / "y.csv", index_col=0)
    assert not isinstance(text.index, pd.DatetimeIndex)
    timed = forecaster.predict(series())
    pd.testing.assert_frame_equal(forecaster.predict(text), timed, check_freq=False)
    for labels in ([f"id{i}" for i in range(400)], [f"{i % 24:02d}:00" for i in range(400)]):
        assert not isinstance(forecaster.predict(series().set_axis(labels)).index, pd.DatetimeIndex)
        with_column = series().reset_index(names="when").set_axis(labels)  # a time column wins over the labels
        pd.testing.assert_frame_equal(forecaster.predict(with_column), timed, check_freq=False)


def test_day_first_text_dates_are_read_in_time_format():
    """Without a format, '01/02/2024' was 2 January: this series of days read as unsorted."""
    daily = series(120).set_axis(pd.date_range("2024-01-01", periods=120, freq="D"))
    text = daily.reset_index(names="day").assign(day=lambda t: t.day.dt.strftime("%d/%m/%Y"))
    model = TitansForecaster(lookback=24, horizon=6, patch_len=8, stride=8, time_column="day",
                             time_format="%d/%m/%Y", random_state=0, **{**TINY, "max_epochs": 1}).fit(text)
    assert list(model.predict().index) == list(pd.date_range("2024-04-30", periods=6, freq="D"))
    indexed = text.set_index("day")  # read_csv(index_col=0) gives the dates so: they were taken for no dates
    model.set_params(time_column=None).fit(indexed)
    assert list(model.predict().index) == list(pd.date_range("2024-04-30", periods=6, freq="D"))
    with pytest.raises(ValueError, match="time_format must be str"):
        TitansForecaster(time_column="day", time_format=1).fit(text)
    with pytest.raises(ValueError, match="time column 'day'"):
        TitansForecaster(time_column="day").fit(text)


def test_max_steps_per_epoch_bounds_what_each_epoch_reads(monkeypatch, windows_read):
    """An epoch trains on max_steps_per_epoch batches of windows (the cycle's start reads as many) and validates on
    as many windows, evenly spaced over the validation part's time; the default reads every window. The classifier
    likewise with sequences, the first of its validation order, which interleaves the classes."""
    read, original_item = windows_read, SequenceDataset.__getitem__
    y = series(1200)  # training rows 0-959: 901 windows; validation rows 960-1199, read from 912: 229 windows
    settings = dict(lookback=48, horizon=12, patch_len=8, stride=8, cycle=24, batch_size=8, random_state=0,
                    **{**TINY, "patience": 5})
    TitansForecaster(max_steps_per_epoch=3, **settings).fit(y)
    assert len(read[0]) == 3 * 8 * (1 + 2)  # the cycle's start, then two epochs
    assert len(set(read[0])) > 60  # other windows each time
    assert set(read[912]) == set(np.arange(24) * 229 // 24)  # from the first to the last 24th of the part
    read.clear()
    TitansForecaster(**{**settings, "max_epochs": 1}).fit(y)
    assert len(read[0]) == 2 * (901 // 8 * 8) and set(read[912]) == set(range(229))  # the last part-batch dropped

    sequences = {}  # sequences read, by the size of their part
    monkeypatch.setattr(SequenceDataset, "__getitem__",
                        lambda self, i: sequences.setdefault(len(self), []).append(i) or original_item(self, i))
    X, labels = motif_data(200)  # 180 to train on, 20 to validate
    TitansSequenceClassifier(variant="mag", patch=1, max_steps_per_epoch=2, batch_size=8, random_state=0,
                             **{**TINY, "patience": 5}).fit(X, labels)
    assert len(sequences[180]) == 2 * 2 * 8 and set(sequences[20]) == set(range(16))


def test_not_fitted_and_bad_parameters():
    with pytest.raises(NotFittedError):
        TitansForecaster().predict()
    for params, error in ((dict(validation_fraction=float("nan")), "validation_fraction must be a finite number"),
                          (dict(learning_rate=float("inf")), "learning_rate must be a finite number"),
                          (dict(quantiles=0.9), "quantiles must be a list of levels"),
                          (dict(quantiles=[0.1, "high"]), "each of quantiles must be"),
                          (dict(loss="l1"), "loss must be one of"),
                          (dict(verbose="yes"), "verbose must be int"), (dict(verbose=-1), "verbose must be >= 0"),
                          (dict(max_steps_per_epoch=0), "max_steps_per_epoch must be >= 1, got 0"),
                          (dict(max_steps_per_epoch=0.5), "max_steps_per_epoch must be int, got 0.5")):
        with pytest.raises(ValueError, match=error):
            TitansForecaster(**params).fit(series())
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
            TitansForecaster(device="cuda").fit(series())
    with pytest.raises(NotFittedError):
        TitansSequenceClassifier().predict(["ACGT"])
    with pytest.raises(NotFittedError):
        TitansForecaster().save("never.pt")
    with pytest.raises(ValueError, match="lookback must be >= 1, got 0"):
        TitansForecaster(lookback=0).fit(series())
    with pytest.raises(ValueError, match="variant must be one of"):
        TitansSequenceClassifier(variant="rnn").fit(["ACGT", "TTTT"], [0, 1])
    with pytest.raises(ValueError, match=r"kmer must be in \[0, 12\], got 13"):
        TitansSequenceClassifier(kmer=13).fit(["ACGT", "TTTT"], [0, 1])
    with pytest.raises(ValueError, match=r"kmer_linear_gain must be >= 0, got -1\.0"):
        TitansSequenceClassifier(kmer_linear_gain=-1.0).fit(["ACGT", "TTTT"], [0, 1])
    with pytest.raises(ValueError, match="kmer_linear_gain needs kmer > 0"):
        TitansSequenceClassifier(kmer=0, kmer_linear_gain=8.0).fit(["ACGT", "TTTT"], [0, 1])
    with pytest.raises(ValueError, match=r"position_linear_gain must be >= 0, got -1\.0"):
        TitansSequenceClassifier(position_linear_gain=-1.0).fit(["ACGT", "TTTT"], [0, 1])
    with pytest.raises(ValueError, match=r"strand_aware=True .* set rc_augment=False"):
        TitansSequenceClassifier(strand_aware=True).fit(["ACGT", "TTTT"], [0, 1])
    with pytest.raises(ValueError, match="rc_average must be bool, got 1"):
        TitansSequenceClassifier(rc_average=1).fit(["ACGT", "TTTT"], [0, 1])
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 0\.99\], got 1\.5"):
        TitansSequenceClassifier(dropout=1.5).fit(["ACGT", "TTTT"], [0, 1])
    with pytest.raises(ValueError, match=r"weight_decay must be >= 0, got -0\.1"):
        TitansForecaster(weight_decay=-0.1).fit(series())
    with pytest.raises(ValueError, match="linear_skip must be bool, got 'yes'"):
        TitansForecaster(linear_skip="yes").fit(series())
    with pytest.raises(ValueError, match="cycle must be >= 2, got 1"):
        TitansForecaster(cycle=1).fit(series())
    with pytest.raises(ValueError, match="head_patches must be >= 1, got 0"):
        TitansForecaster(head_patches=0).fit(series())
    with pytest.raises(ValueError, match="lr_schedule must be one of cosine, halving, got 'step'"):
        TitansForecaster(lr_schedule="step", lookback=48, horizon=12, **TINY).fit(series())
    with pytest.raises(ValueError, match="lr_schedule must be one of cosine, halving, got 'step'"):
        TitansSequenceClassifier(lr_schedule="step").fit(["ACGT", "TTTT"], [0, 1])
    with pytest.raises(ValueError, match="device must be"):
        TitansForecaster(device="tpu", lookback=48, horizon=12, **TINY).fit(series())


def test_bad_series_get_clear_errors(forecaster):
    bad = series()
    bad.iloc[7, 1] = np.nan
    with pytest.raises(ValueError, match="column 'temp' holds nan at row 7"):
        TitansForecaster(lookback=48, horizon=12).fit(bad)
    bad.iloc[7, 1] = np.inf
    with pytest.raises(ValueError, match="holds inf"):
        TitansForecaster(lookback=48, horizon=12).fit(bad)
    with pytest.raises(ValueError, match=r"y has 60 rows, 48 of them before the validation part .* needs lookback "
                                         r"\+ horizon = 60 there"):
        TitansForecaster(lookback=48, horizon=12).fit(series(60))
    with pytest.raises(ValueError, match="y has 72 rows, 58 of them"):  # 20% of 72 rows validate: 14, not 12
        TitansForecaster(lookback=48, horizon=12).fit(series(72))
    with pytest.raises(ValueError, match="column 'load' is not numeric"):
        TitansForecaster(lookback=48, horizon=12).fit(series().astype({"load": str}).assign(load="high"))
    dated = series().reset_index(names="date").astype({"date": str})
    with pytest.raises(ValueError, match="column 'date' is not numeric: row 0 holds '2024-01-01 00:00:00': it holds "
                                         "timestamps, so pass time_column='date'"):
        TitansForecaster(lookback=48, horizon=12).fit(dated)
    with pytest.raises(ValueError, match="y has 3 columns, but the forecaster was fitted on 2"):
        forecaster.predict(series().assign(extra=1.0))
    with pytest.raises(ValueError, match="differ from those seen in fit"):
        forecaster.predict(series().rename(columns={"temp": "humidity"}))
    with pytest.raises(ValueError, match="fewer than lookback"):
        forecaster.predict(series(20))
    for y, message in (("y.csv", r"y must be a series, not a file's path \('y.csv'\): read it first"),
                       (None, r"got NoneType of shape \(\)")):  # "got shape ()" named neither
        with pytest.raises((TypeError, ValueError), match=message):
            TitansForecaster(lookback=48, horizon=12).fit(y)
    with pytest.raises(ValueError, match="y has 3 rows, 0 of them before the validation part"):  # it said -9
        TitansForecaster(lookback=48, horizon=12).fit(series(3))
    pivoted = series().set_axis(pd.MultiIndex.from_tuples([("site", "load"), ("site", "temp")]), axis=1)
    with pytest.raises(ValueError, match=r"columns have 2 levels, such as \('site', 'load'\): flatten them"):
        TitansForecaster(lookback=48, horizon=12).fit(pivoted)  # it fitted and gave scrambled column names


def test_bad_sequences_get_clear_errors(classifier):
    with pytest.raises(ValueError, match=r"sequence 1: character 'Z' at position 2"):
        TitansSequenceClassifier(**TINY).fit(["ACGT", "ACZT"], ["a", "b"])
    with pytest.raises(ValueError, match="X has 2 sequences but y has"):
        TitansSequenceClassifier(**TINY).fit(["ACGT", "ACGT"], ["a", "b", "a"])
    with pytest.raises(ValueError, match="single class"):
        TitansSequenceClassifier(**TINY).fit(["ACGT", "ACGA"], ["a", "a"])
    with pytest.raises(ValueError, match=r"a single str \('ACGT', not a file\)"):
        classifier.predict("ACGT")
    for single in (SeqRecord(Seq("ACGTACGT"), id="r1"), Seq("ACGTACGT"), b"ACGT", {"r1": "ACGT"}):
        with pytest.raises(ValueError, match=f"got a single {type(single).__name__}"):
            classifier.predict(single)
    with pytest.raises(FileNotFoundError, match=r"missing\.fa"):
        classifier.predict(Path("missing.fa"))
    with pytest.raises(ValueError, match=r"X\[0\] \('0'\) is an empty sequence"):
        classifier.predict_proba(["", "ACGT"])
    np.testing.assert_array_equal(classifier.predict([Seq("ACGTACGT")]), classifier.predict(["ACGTACGT"]))
    with pytest.raises(ValueError, match=r"character 'x' at position 0"):
        classifier.predict(["xCGT"])
    frame = pd.DataFrame({"seq": ["ACGTACGT"] * 3})  # iterated by column name: one prediction for "seq"
    with pytest.raises(ValueError, match=r"X is a DataFrame; give its column of sequences, X\['seq'\]"):
        classifier.predict(frame)
    with pytest.raises(ValueError, match=r"X is a DataFrame; give its column of sequences, X\[0\] for example"):
        classifier.predict(pd.DataFrame([["ACGT"]]))  # an IndexError for no column; X[np.int64(0)] for this
    with pytest.raises(ValueError, match=r"X is a DataFrame; give its column of sequences$"):
        classifier.predict(pd.DataFrame())
    np.testing.assert_array_equal(classifier.predict([MutableSeq("ACGTACGT")]), classifier.predict(["ACGTACGT"]))
    X, y = motif_data(40)
    with pytest.warns(DataConversionWarning):  # a column of labels, as scikit-learn's classifiers take it
        TitansSequenceClassifier(variant="mag", patch=1, random_state=0, **{**TINY, "max_epochs": 1}).fit(
            X, y.reshape(-1, 1))


_DNA_INPUT = "X must be DNA strings, SeqRecords or a FASTA path; the check passes numeric arrays"
_SERIES_INPUT = "fit takes one series y (time x channels), long enough for a training and a validation part, not (X, y)"
_CLASSIFIER_CANNOT_APPLY = [
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_complex_data", "check_dtype_object",
    "check_estimators_empty_data_messages", "check_pipeline_consistency", "check_estimators_nan_inf",
    "check_estimator_sparse_tag", "check_estimator_sparse_array", "check_estimator_sparse_matrix",
    "check_estimators_pickle", "check_f_contiguous_array_estimator", "check_classifier_data_not_an_array",
    "check_classifiers_one_label", "check_classifiers_classes", "check_classifiers_train",
    "check_supervised_y_2d", "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_fit2d_1sample", "check_fit2d_1feature", "check_dict_unchanged", "check_fit_idempotent",
    "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d", "check_requires_y_none",
    "check_classifiers_regression_target",
]
_FORECASTER_CANNOT_APPLY = [
    "check_fit_score_takes_y", "check_n_features_in_after_fitting", "check_complex_data", "check_dtype_object",
    "check_estimators_empty_data_messages", "check_estimators_nan_inf", "check_estimator_sparse_tag",
    "check_estimator_sparse_array", "check_estimator_sparse_matrix", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit2d_1sample", "check_fit2d_1feature", "check_fit1d",
    "check_fit2d_predict1d", "check_requires_y_none", "check_regressors_train", "check_regressor_data_not_an_array",
    "check_supervised_y_2d", "check_regressors_int", "check_regressors_no_decision_function",
    "check_regressor_multioutput", "check_estimators_partial_fit_n_features", "check_supervised_y_no_nan",
]


def _cannot_apply(estimator):
    if isinstance(estimator, TitansSequenceClassifier):
        return dict.fromkeys(_CLASSIFIER_CANNOT_APPLY, _DNA_INPUT)
    return dict.fromkeys(_FORECASTER_CANNOT_APPLY, _SERIES_INPUT)


@pytest.mark.filterwarnings("ignore")
@parametrize_with_checks(
    [TitansSequenceClassifier(variant="mag", patch=1, **{**TINY, "max_epochs": 1}),
     TitansForecaster(lookback=8, horizon=4, patch_len=4, stride=4, **{**TINY, "max_epochs": 1})],
    expected_failed_checks=_cannot_apply,
)
def test_scikit_learn_checks(estimator, check):
    """scikit-learn's own estimator checks; those whose inputs cannot be DNA or a series are marked."""
    check(estimator)
