"""The ``titans-seq`` command line: Lightning's CLI over any model and DataModule of this package.

    titans-seq configs                            # the configs shipped for every benchmark
    titans-seq configs ETTh1 > ETTh1.yaml         # one of them, to edit (or their path in titans_seq/configs/)
    titans-seq fit --config ETTh1.yaml            # or: python -m titans_seq fit --config ...
    titans-seq test --config ETTh1.yaml --ckpt_path CKPT
    titans-seq predict --config ETTh1.yaml --ckpt_path CKPT --predictions forecast.csv
    titans-seq predict --config gb_human_nontata_promoters.yaml --ckpt_path CKPT --data.init_args.predict_path new.fa

Model and data are chosen by ``class_path`` in the YAML; every argument can be overridden on the command line
(``--model.init_args.learning_rate 3e-4``); with ``--ckpt_path``, the model's settings are the checkpoint's but
for the fields given so. Checkpoints, CSV and TensorBoard logs go to ``lightning_logs/``
(under ``--trainer.default_root_dir`` where it is given); ``CKPT`` is the checkpoint a ``fit`` kept (its best
on validation), a file under ``lightning_logs/**/checkpoints/``. (Lightning's ``--ckpt_path best`` names the
best checkpoint of a ``fit`` in the same process only.) Several GPUs or nodes are Lightning's strategies
(``--trainer.devices 4 --trainer.strategy ddp``), with no change to the code; ``predict`` writes its CSV from
one process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.strategies.launchers import _MultiProcessingLauncher

from titans_seq._io import atomic_write_text, check_file_path
from titans_seq.data.splits import SplitDataModule

__all__ = ["CONFIGS", "PredictionWriter", "TitansCLI", "main"]

CONFIGS = Path(__file__).resolve().parent / "configs"
# Distinct names: two loggers of one name would each take the next free version_N, two folders a run.
LOGS = "lightning_logs"
LOGGERS = [{"class_path": f"lightning.pytorch.loggers.{kind}", "init_args": {"save_dir": LOGS, "name": name}}
           for kind, name in (("CSVLogger", "lightning_logs"), ("TensorBoardLogger", "tensorboard"))]
CHECKPOINT_IO = {"class_path": "titans_seq.tasks.training.CheckpointReplacing"}  # written whole or not at all


class PredictionWriter(BasePredictionWriter):
    """Writes what ``predict`` returns as CSV (a temporary file renamed into place): the model's
    ``predictions_frame`` — forecasts indexed by future timestamps in original units, or one row per
    sequence with its id, label (where it has one), predicted class and class probabilities."""

    def __init__(self, path: str = "predictions.csv"):
        super().__init__(write_interval="epoch")
        check_file_path(path, "the predictions path")  # found now, not after the whole prediction run
        self.path = path

    def setup(self, trainer, pl_module, stage: str) -> None:
        # Each process of a distributed run predicts only its share, and each would write the one file.
        if trainer.world_size > 1:
            raise ValueError(f"predict writes one CSV from one process, but this run has {trainer.world_size}: "
                             "predict with --trainer.devices 1 --trainer.num_nodes 1 (training scales across them)")

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices):
        frame = pl_module.predictions_frame(predictions, trainer.datamodule)
        atomic_write_text(self.path, frame.to_csv())
        print(f"wrote {len(frame)} rows of predictions to {self.path}")


def _model_arguments(args: list[str]) -> list[str]:
    """The model's arguments in command-line ``args``, with their values: its fields one by one
    (``--model.init_args.NAME VALUE`` or ``--model.init_args.NAME=VALUE``) and the model as a whole (``--model``
    with a class path, a mapping or a YAML file)."""
    given = []
    for i, arg in enumerate(args):
        if arg.startswith(("--model.", "--model=")) or arg == "--model":
            given += [arg] if "=" in arg or i + 1 == len(args) else [arg, args[i + 1]]
    return given


class TitansCLI(LightningCLI):
    """LightningCLI with a ``--predictions`` path for ``predict`` and logs in CSV and TensorBoard.

    With ``--ckpt_path``, the model's settings are the config's, then the checkpoint's hyper-parameters over them
    (Lightning's: the model must be the one saved), then the model's arguments given on the command line over
    those: its fields one by one, such as ``--model.init_args.rc_average true`` at ``predict``, or ``--model`` as a
    whole; a mapping (the encoder's fields) changes the checkpoint's. (Lightning applies the checkpoint's last, so
    that such an argument was silently ignored.) A resumed ``fit`` trains at the learning rate and weight decay so
    given."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--predictions", default="predictions.csv", help="CSV file predict writes")

    def parse_arguments(self, parser, args) -> None:
        given = sys.argv[1:] if args is None else args
        self._command_line = list(given) if isinstance(given, (list, tuple)) else []  # not a dict of settings
        super().parse_arguments(parser, args)

    def _parse_ckpt_path(self) -> None:
        super()._parse_ckpt_path()
        given = _model_arguments(self._command_line)
        subcommand = self.config.get("subcommand")
        if not given or not subcommand or not self.config[subcommand].get("ckpt_path"):
            return
        saved = self.config[subcommand]["model"]["init_args"].clone()
        self.config = self.parser.parse_args([subcommand, *given], namespace=self.config)
        settings = self.config[subcommand]["model"]["init_args"]
        for name, value in vars(saved).items():  # a mapping (the encoder's fields) changes the checkpoint's
            if isinstance(value, dict) and isinstance(settings.get(name), dict):
                settings[name] = {**value, **settings[name]}

    def _built_in_loggers(self) -> tuple[list, str | None]:
        """The logger configs that log to the default folder, and the ``--trainer.default_root_dir`` given."""
        trainer = (self.config[self.subcommand] if self.subcommand else self.config)["trainer"]
        loggers = trainer["logger"] if isinstance(trainer["logger"], list) else []
        rooted = [logger for logger in loggers  # a logger of the user's may take no save_dir at all
                  if logger.get("init_args") is not None and logger["init_args"].get("save_dir") == LOGS]
        return rooted, trainer["default_root_dir"]

    def before_instantiate_classes(self) -> None:
        # The built-in loggers' folder follows --trainer.default_root_dir, as Lightning's own default logger does;
        # checkpoints and the saved config follow the first logger.
        self._rooted, root = self._built_in_loggers()
        for logger in self._rooted if root is not None else []:
            logger["init_args"]["save_dir"] = os.path.join(root, LOGS)

    def after_instantiate_classes(self) -> None:
        # The saved config keeps the default folder, so that a run from it follows its own default_root_dir.
        for logger in self._rooted:
            logger["init_args"]["save_dir"] = LOGS

    def _check_before_run(self) -> None:
        """A checkpoint that is not there, and data that do not fit the model, stop the run before Lightning makes
        its log folders, which it does before its own setup: this package's DataModule and model are set up here
        first (Lightning's second call finds them done). A DataModule of the user's is left to Lightning, which
        calls its ``prepare_data`` and attaches the trainer first; so is a run that spawns its processes, which
        would each be sent the loaded data."""
        ckpt_path = self.config[self.subcommand].get("ckpt_path")
        if (ckpt_path and ckpt_path not in ("best", "last", "hpc") and not ckpt_path.startswith("registry")
                and "://" not in ckpt_path and not os.path.exists(ckpt_path)):  # sharded checkpoints are folders
            raise FileNotFoundError(f"no checkpoint at --ckpt_path {ckpt_path}")
        launcher = self.trainer.strategy.launcher
        spawns = isinstance(launcher, _MultiProcessingLauncher) and not launcher.is_interactive_compatible
        if isinstance(self.datamodule, SplitDataModule) and not spawns:
            self.datamodule.setup(self.subcommand)
            if hasattr(self.model, "setup_with"):
                self.model.trainer = self.trainer  # as Lightning attaches it next: its limits apply to the setup
                self.model.setup_with(self.datamodule, self.subcommand)

    before_fit = _check_before_run

    def _check_and_warn_without_checkpoint(self) -> None:
        self._check_before_run()
        if not self.config[self.subcommand].get("ckpt_path"):
            print(f"warning: no --ckpt_path: {self.subcommand} reads the model as the config makes it, untrained; "
                  f"give the checkpoint a fit kept (lightning_logs/**/checkpoints/*.ckpt)", file=sys.stderr)

    before_validate = before_test = _check_and_warn_without_checkpoint

    def before_predict(self) -> None:
        self._check_and_warn_without_checkpoint()
        self.trainer.callbacks.append(PredictionWriter(self.config["predict"]["predictions"]))


def _configs(argv: list[str]) -> None:
    names = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
    if not argv:
        print("Configs shipped with titans_seq (titans-seq configs NAME prints one):")
        for name in names:
            print(f"  {name:<36} {CONFIGS / (name + '.yaml')}")
        return
    if argv[0] not in names:
        sys.exit(f"error: no config named {argv[0]!r}; known: {', '.join(names)}")
    print((CONFIGS / f"{argv[0]}.yaml").read_text(), end="")


def main(args: list[str] | None = None) -> None:
    """Entry point of ``titans-seq`` and ``python -m titans_seq``."""
    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] == ["configs"]:
        try:
            _configs(argv[1:])
            sys.stdout.flush()
        except BrokenPipeError:  # the reader stopped early (titans-seq configs | head): nothing more to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the flush at exit cannot fail
        return
    try:
        TitansCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                  args=args, save_config_kwargs={"overwrite": True}, auto_configure_optimizers=False,
                  trainer_defaults={"logger": LOGGERS, "plugins": [CHECKPOINT_IO]})
    except (FileNotFoundError, PermissionError, ValueError) as error:  # bad data, settings or paths: a message
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
