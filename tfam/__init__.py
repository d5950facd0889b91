"""tfam: see and hear what a TensorFlow/Keras network has learned.

    import tfam
    from tfam import objectives, regularizers, transforms
    result = tfam.dream(model, objectives.class_logit([0, 1, 2]), transforms=[transforms.jitter(2)],
                        regularizers=[regularizers.total_variation(0.1)], steps=200)

Names are loaded on first use, so that ``import tfam`` (and ``tfam --help``) does not pay for
TensorFlow until something needs it.
"""

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's info lines off the console

__version__ = "0.1.0"

_NAMES = {
    "dream": "tfam.engine",
    "Dreamer": "tfam.engine",
    "Result": "tfam.engine",
    "deepdream": "tfam.deep_dream",
}
# the core's modules and the packages above it (ARCHITECTURE.md); each loads on first use
_MODULES = {
    "engine",
    "objectives",
    "params",
    "transforms",
    "regularizers",
    "optimizers",
    "deep_dream",
    "attribution",
    "faithfulness",
    "surgery",
    "layout",
    "outputs",
    "immutable",
    "pacing",
    "keras_internals",
    "audio",
    "data",
    "models",
    "train",
    "report",
    "atlas",
    "cli",
    "demos",
}

__all__ = sorted(_NAMES) + sorted(_MODULES) + ["__version__"]


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    if name in _MODULES:
        return importlib.import_module(f"tfam.{name}")
    raise AttributeError(f"module 'tfam' has no attribute '{name}'")
