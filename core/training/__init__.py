"""Training: weighted focal loss, SER metrics, the training loop, cross-validation, DDP.

Public API::

    from core.training import TrainConfig, fit, evaluate, cross_validate
    from core.training import focal_loss, FocalLoss, class_weights
    from core.training import metrics          # WA, UA, ACC, per-class recall, confusion
"""

from core.training import metrics
from core.training.cv import cross_validate
from core.training.losses import FocalLoss, class_weights, focal_loss
from core.training.loop import TrainConfig, TrainResult, decode, evaluate, fit, load_latest, predict

__all__ = [
    "TrainConfig", "TrainResult", "fit", "evaluate", "predict", "decode", "load_latest", "cross_validate",
    "focal_loss", "FocalLoss", "class_weights", "metrics",
]
