"""Model registry and the models of the four systems (S0-S3), see DESIGN.md.

    from core import models
    models.available()                      # ['cnn', 'cnn-atn', 'cnn-eca', ...]
    models.spec("cnn-eca").cam_layers       # ('blocks.5',)
    model = models.build("cnn-eca", num_classes=4, n=4)
    logits = model(log_mel)                 # (B, 64, frames) -> (B, 4)

Importing this package registers every model (each module's ``@register_model`` runs).
"""

from core.models.base import PatchModel, SerModel
from core.models.layers import ClassifierHead
from core.models.registry import available, build, default_config, demo_config, num_parameters, register_model, spec
from core.models.spec import ModelSpec
from core.models.eca import ECA
from core.models import cnn, cnn3d, cnn_lstm, dbn, fusion, sequence, vggish, yamnet  # noqa: F401,E402  (registration)

__all__ = [
    "ECA", "ClassifierHead", "ModelSpec", "PatchModel", "SerModel", "available", "build", "default_config",
    "demo_config", "num_parameters", "register_model", "spec",
]
