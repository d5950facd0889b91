"""The tf.distribute strategies tfam's long jobs run under (train.py, tfam atlas), by name.

Light to import (TensorFlow loads when a strategy is made), so that a command's parser can offer
the names before TensorFlow is imported.
"""

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name):
    """ "default": this process's default device; "mirrored": every local GPU, or every logical
    CPU device when there is no GPU; "multiworker": the cluster of the TF_CONFIG environment
    variable, each worker mirrored over its local devices."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":  # the cluster comes from the TF_CONFIG environment variable
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy '{name}'; choose one of: {', '.join(STRATEGIES)}")
