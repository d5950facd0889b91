"""The tf.distribute strategies tfam's long jobs run under (train.py, tfam atlas), by name.

Light to import (TensorFlow loads when a strategy is made), so that a command's parser can offer
the names before TensorFlow is imported.
"""

STRATEGIES = ("default", "mirrored", "multiworker")


_made = {}  # name -> the strategy this process made


def make_strategy(name):
    """The strategy called ``name``: "default", this process's default device; "mirrored", every
    local GPU, or every logical CPU device when there is no GPU; "multiworker", the cluster of
    the TF_CONFIG environment variable, each worker mirrored over its local devices.

    Made once per process: a multi-worker strategy must be made before TensorFlow starts its
    devices, so programs make theirs at start (cli.common.import_tensorflow_quietly), and later
    calls return that one."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy '{name}'; choose one of: {', '.join(STRATEGIES)}")
    if name not in _made:
        import tensorflow as tf

        _made[name] = {
            "default": tf.distribute.get_strategy,
            "mirrored": tf.distribute.MirroredStrategy,
            "multiworker": tf.distribute.MultiWorkerMirroredStrategy,
        }[name]()
    return _made[name]
