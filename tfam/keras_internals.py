"""The few Keras internals tfam relies on, in one place: when a Keras release moves one, this module
(and its test, tests/test_keras_internals.py) is the one place that breaks."""
from keras.src.saving.serialization_lib import SafeModeScope


def safe_mode_scope(safe_mode):
    """A context in which Keras deserializes (clone_model, from_config) with this ``safe_mode``:
    clone_model takes no safe_mode argument of its own and would refuse a Lambda layer that the user
    allowed by loading with safe_mode=False."""
    return SafeModeScope(safe_mode)
