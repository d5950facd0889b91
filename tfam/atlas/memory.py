"""How many units an atlas dreams at a time: as many as memory allows, from an estimate of what one
row of a batch holds, measured on the model's own tensors.

A row keeps every activation of the model's forward pass for the backward pass, and the gradient
of each (counted three times over), and its input and parameters in several copies: the
parameters, the optimizer's two moments and their gradient; the input, its transformed copy, its
gradient, the best input so far and the copies a finished batch hands back (start, final, best).
The estimate is held against a share of the memory available now; past MAX_BATCH rows a CPU
gains nothing more per row, and a batch held for writing grows with it. It does not depend on the
number of devices: the batches decide the dreams, and an atlas must be the same on any number of
them (replicas sharing one memory, logical CPU devices, each hold one batch of that share).
"""

import math
import os

import numpy as np

MAX_BATCH = 64
SHARE = 0.25  # of the memory available now: the model, TensorFlow and the writing need the rest
ACTIVATION_COPIES = 3
INPUT_COPIES = 8
PARAM_COPIES = 4


def activation_elements(model):
    """The number of values one input row makes in the model's forward pass: every layer's
    output (for a SavedModel or frozen graph, every inner tensor of known size)."""
    backed = getattr(model, "graph_backed", None)
    if backed is not None:
        shapes = [t.shape for t in backed.graph.tensors()]
    else:
        from tfam.keras_internals import all_layers

        shapes = []
        for layer in all_layers(model):
            try:
                outputs = layer.output
            except (AttributeError, ValueError):  # a layer used several times or never
                continue
            shapes += [
                t.shape for t in (outputs if isinstance(outputs, (list, tuple)) else [outputs])
            ]
    return sum(math.prod(shape[1:]) for shape in shapes if shape and None not in tuple(shape)[1:])


def row_bytes(model, input_shape, param_shape):
    """Bytes one row of a batch needs while it is dreamed (float32)."""
    values = (
        ACTIVATION_COPIES * activation_elements(model)
        + INPUT_COPIES * math.prod(input_shape)
        + PARAM_COPIES * math.prod(param_shape)
    )
    return 4 * values


def available_bytes():
    """Memory available to new allocations now (Linux: MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def batch_size(per_row, available=None):
    """Rows per batch for rows of ``per_row`` bytes, from ``available`` bytes (default: what the
    machine has available now)."""
    available = available_bytes() if available is None else available
    if available is None:
        return MAX_BATCH
    return int(np.clip(int(SHARE * available / max(per_row, 1)), 1, MAX_BATCH))
