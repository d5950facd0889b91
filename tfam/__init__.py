"""tfam: see and hear what a TensorFlow/Keras network has learned."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the console

from tfam import objectives, optimizers, params, regularizers, transforms  # noqa: E402
from tfam.deep_dream import deepdream  # noqa: E402
from tfam.engine import Dreamer, Result, dream  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Dreamer", "Result", "deepdream", "dream", "objectives", "optimizers", "params", "regularizers",
           "transforms", "__version__"]
