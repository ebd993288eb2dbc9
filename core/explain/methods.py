"""Every attribution method serwb offers, registered by importing its module (``core.explain.registry``).

Registration order is the order pages, tables and exports show them. A new method is one more import here.
"""

import core.explain.gradcam  # noqa: F401  (registration order = shown order)
import core.explain.occlusion  # noqa: F401
import core.explain.lime  # noqa: F401
import core.explain.attention  # noqa: F401
import core.explain.gradients  # noqa: F401  (Integrated Gradients, GradientSHAP, SmoothGrad)
import core.explain.kernelshap  # noqa: F401
from core.explain.registry import (  # noqa: F401
    MethodSpec, applicable, available, cost, default_methods, defaults_for, explain, method_spec, parse_settings, settings_for,
    unmet_need,
)
