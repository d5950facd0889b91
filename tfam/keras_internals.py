"""The few Keras internals tfam relies on, in one place: when a Keras release moves one, this module
and its test (tests/test_keras_internals.py) are where it shows, not deep inside attribution.
Each has no public equivalent in Keras 3."""

from keras.src.saving.serialization_lib import SafeModeScope


def safe_mode_scope(safe_mode):
    """A context in which Keras deserializes (clone_model, from_config) with this ``safe_mode``:
    clone_model takes no safe_mode argument of its own and would refuse a Lambda layer that the user
    allowed by loading with safe_mode=False."""
    return SafeModeScope(safe_mode)


def producer(tensor):
    """The layer that made a functional model's symbolic ``tensor`` (None for a model input or a
    tensor from outside a functional graph). Keras 3 keeps the graph on the tensors
    (``_keras_history``); model.layers is one flat list that cannot tell streams apart."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    return history.operation


def producer_inputs(tensor):
    """The symbolic tensors that flow into the layer that made ``tensor`` (none for an input)."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return []
    node = history.operation._inbound_nodes[history.node_index]
    return list(node.input_tensors)


def all_layers(model):
    """Every layer of ``model``, nested models' and custom layers' sublayers included."""
    return list(model._flatten_layers())
