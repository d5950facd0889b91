"""The span of a waveform input that reaches a model's output: what a dream may fill with sound.

    start, stop = heard_span(model)      # samples [start, stop) of the model's input

Seed 002's front end reads seconds 1-3 of its 4 s input; a dream that fills the other two seconds
fills them with whatever the start was (noise), since no gradient ever reaches them. A front end
that knows its span says so (``layer.heard_span(samples)``); for any other model the span is
measured: the input gradient of randomly weighted outputs, over a few random inputs, is zero
exactly where the model does not listen.
"""

import numpy as np
import tensorflow as tf


def front_end_span(model, samples):
    """(start, stop) told by a layer of the model that knows it, or None."""
    for layer in model.layers:
        told = getattr(layer, "heard_span", None)
        if callable(told):
            return told(samples)
    return None


def measured_span(model, trials=3, seed=0):
    """(start, stop): the first and one past the last sample of the model's input whose gradient
    is non-zero for some of ``trials`` random inputs and random weightings of the outputs."""
    rng = np.random.default_rng(seed)
    shape = (trials,) + tuple(model.inputs[0].shape[1:])
    x = tf.constant(rng.uniform(-0.5, 0.5, shape), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = model(x, training=False)
        weights = tf.constant(rng.standard_normal(tuple(out.shape)), out.dtype)
        total = tf.reduce_sum(out * weights)
    gradient = tape.gradient(total, x)
    if gradient is None:
        raise ValueError("the model's output does not depend on its input")
    reach = np.abs(gradient.numpy()).reshape(trials, shape[1], -1).sum(axis=(0, 2)) > 0
    where = np.flatnonzero(reach)
    if where.size == 0:
        raise ValueError("no sample of the input reaches the model's output (its gradient is 0)")
    return int(where[0]), int(where[-1]) + 1


def heard_span(model):
    """(start, stop) in samples of the model's (fixed-length) waveform input."""
    samples = model.inputs[0].shape[1]
    if samples is None:
        raise ValueError("the model's input has an open length; fix it first (fix_input_size)")
    told = front_end_span(model, samples)
    return told if told is not None else measured_span(model)
