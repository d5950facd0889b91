"""In-graph optimizers for the compiled loop: pure functions of (params, grad, state, step).

Keras optimizers keep their state in variables and cannot be carried through a ``tf.while_loop``
whose batch size changes from call to call; these carry their state as loop tensors instead.
Gradients are of the loss to minimize (minus the objective).
"""

import tensorflow as tf

from tfam.immutable import Immutable


def _rate(learning_rate, step):
    if callable(learning_rate):
        return tf.cast(learning_rate(tf.cast(step, tf.float32)), tf.float32)
    return tf.constant(learning_rate, tf.float32)


def exponential_decay(initial, rate):
    """learning rate initial * rate**step (seed 000 uses 0.01 * 0.99**step)."""
    return lambda step: initial * tf.pow(rate, step)


def normalize_per_row(grad):
    """Divide each row's gradient by its standard deviation (DeepDream's normalization)."""
    axes = list(range(1, grad.shape.rank))
    return grad / (tf.math.reduce_std(grad, axis=axes, keepdims=True) + 1e-8)


class Adam(Immutable):
    """Adam; ``learning_rate`` a number or a function of the step (a float tensor)."""

    def __init__(
        self, learning_rate=0.05, beta_1=0.9, beta_2=0.999, epsilon=1e-7, normalize_gradients=False
    ):
        self._set(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            normalize_gradients=normalize_gradients,
        )

    def init_state(self, params):
        return (tf.zeros_like(params), tf.zeros_like(params))

    def update(self, params, grad, state, step):
        if self.normalize_gradients:
            grad = normalize_per_row(grad)
        m, v = state
        m = self.beta_1 * m + (1.0 - self.beta_1) * grad
        v = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(grad)
        t = tf.cast(step, tf.float32) + 1.0
        lr = (
            _rate(self.learning_rate, step)
            * tf.sqrt(1.0 - tf.pow(self.beta_2, t))
            / (1.0 - tf.pow(self.beta_1, t))
        )
        return params - lr * m / (tf.sqrt(v) + self.epsilon), (m, v)


class SGD(Immutable):
    """Plain gradient descent on the loss (ascent on the objective), as Yosinski et al."""

    def __init__(self, learning_rate=1.0, normalize_gradients=False):
        self._set(learning_rate=learning_rate, normalize_gradients=normalize_gradients)

    def init_state(self, params):
        return ()

    def update(self, params, grad, state, step):
        if self.normalize_gradients:
            grad = normalize_per_row(grad)
        return params - _rate(self.learning_rate, step) * grad, state


adam = Adam
sgd = SGD
