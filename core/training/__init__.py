"""Training: weighted focal loss, SER metrics, the training loop, cross-validation, DDP.

Public API::

    from core.training import TrainConfig, fit, evaluate, cross_validate
    from core.training import train           # the protocol of `serwb train` in one call (core.training.protocol)
    from core.training import focal_loss, FocalLoss, class_weights
    from core.training import metrics          # WA, UA, ACC, per-class recall, confusion
"""

from core.training import metrics
from core.training.cv import cross_validate
from core.training.losses import FocalLoss, class_weights, focal_loss
from core.training.loop import TrainConfig, TrainResult, decode, evaluate, fit, load_latest, predict
from core.training.protocol import Trained, train

__all__ = [
    "TrainConfig", "TrainResult", "Trained", "train", "fit", "evaluate", "predict", "decode", "load_latest", "cross_validate",
    "focal_loss", "FocalLoss", "class_weights", "metrics",
]
