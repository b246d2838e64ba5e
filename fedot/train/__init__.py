"""Local training and evaluation on data sets held as device tensors (see ``fedot.data``)."""

from fedot.train.config import OPTIMIZERS, SCHEDULES, TrainConfig
from fedot.train.evaluate import EvalResult, evaluate, evaluate_ensemble, evaluate_per_client
from fedot.train.loop import TrainResult, make_optimizer, train
from fedot.train.schedule import lr_factor

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "EvalResult",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "evaluate_ensemble",
    "evaluate_per_client",
    "lr_factor",
    "make_optimizer",
    "train",
]
