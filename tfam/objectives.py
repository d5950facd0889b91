"""What to maximize: small immutable objects that map a model's activations to one value per row.

An objective names the layers it reads (``OUTPUT`` is the model's output, as logits) and a function
``fn(acts) -> (B,)`` where ``acts`` maps each of those names to its activation tensor. Objectives add,
subtract and scale (``a + 2 * b - c``); every operation returns a new object, nothing is mutated.

Targets may be one index for every row (``class_logit(3)``), one per row (``class_logit([0, 1, 2])``
dreams three classes in a batch of three), or several summed in a row (``class_logit([[1, 7]])``, as
keras-vis ``filter_indices=[1, 7]``).
"""

import numbers

import numpy as np
import tensorflow as tf

from tfam.immutable import Immutable, factory

OUTPUT = "<output>"  # the key under which objectives read the model's output (logits)


class Objective(Immutable):
    def __init__(self, fn, layers, name, class_targets=None, rows=None, rows_of=None):
        self._set(
            _fn=fn,
            layers=frozenset(layers),
            name=name,
            class_targets=class_targets,  # per-row target lists when the objective is about classes
            rows=rows,  # the batch size that per-row targets require, or None for any batch
            _rows_of=rows_of,
        )  # (start, stop) -> the same objective for those rows only

    def __call__(self, acts):
        return self._fn(acts)

    def select_rows(self, start, stop):
        """The same objective for rows ``start:stop`` of its per-row targets (itself when it has
        none), so that a batch too large for memory can run in parts."""
        if self.rows is None:
            return self
        if self._rows_of is None:
            raise ValueError(f"the objective {self.name} cannot be split by rows")
        return self._rows_of(start, stop)

    def __repr__(self):
        return f"Objective({self.name})"

    def _combine(self, other, op, symbol):
        if isinstance(other, numbers.Number):
            value = float(other)
            return Objective(
                lambda acts: op(self(acts), value),
                self.layers,
                f"({self.name} {symbol} {value:g})",
                self.class_targets,
                self.rows,
                lambda a, b: self.select_rows(a, b)._combine(other, op, symbol),
            )._made_by_value(symbol, self, value)
        if not isinstance(other, Objective):
            return NotImplemented
        if self.rows and other.rows and self.rows != other.rows:
            raise ValueError(f"cannot combine objectives for {self.rows} and {other.rows} rows")
        return Objective(
            lambda acts: op(self(acts), other(acts)),
            self.layers | other.layers,
            f"({self.name} {symbol} {other.name})",
            self.class_targets or other.class_targets,
            self.rows or other.rows,
            lambda a, b: self.select_rows(a, b)._combine(other.select_rows(a, b), op, symbol),
        )._made_by_value(symbol, self, other)

    def __add__(self, other):
        return self._combine(other, lambda a, b: a + b, "+")

    def __sub__(self, other):
        return self._combine(other, lambda a, b: a - b, "-")

    def __radd__(self, other):
        return self + other

    def __rsub__(self, other):
        return -self + other

    def __mul__(self, k):
        if not isinstance(k, numbers.Number):
            return NotImplemented
        k = float(k)
        return Objective(
            lambda acts: k * self(acts),
            self.layers,
            f"{k:g}*{self.name}",
            self.class_targets,
            self.rows,
            lambda a, b: self.select_rows(a, b) * k,
        )._made_by_value("*", self, k)

    __rmul__ = __mul__

    def __truediv__(self, k):
        return self * (1.0 / k)

    def __neg__(self):
        return self * -1.0


def as_targets(targets):
    """Normalize targets to a tuple of rows, each a tuple of indices.

    ``3`` -> ((3,),) for every row; ``[0, 1]`` -> ((0,), (1,)); ``[[1, 7]]`` -> ((1, 7),).
    """
    if isinstance(targets, (numbers.Integral, np.integer)):
        return ((int(targets),),)
    rows = []
    for row in targets:
        if isinstance(row, (numbers.Integral, np.integer)):
            rows.append((int(row),))
        else:
            row = tuple(int(i) for i in row)
            if not row:
                raise ValueError("a target row is empty")
            rows.append(row)
    if not rows:
        raise ValueError("no targets given")
    return tuple(rows)


def _selector(rows, depth, what):
    """A (rows, depth) 0/1 matrix that sums the chosen indices of each row."""
    weights = np.zeros((len(rows), depth), np.float32)
    for r, row in enumerate(rows):
        for i in row:
            if not 0 <= i < depth:
                raise ValueError(f"{what} {i} is out of range: the layer has {depth}")
            weights[r, i] = 1.0
    return tf.constant(weights)


def _check_rows(values, rows):
    """Per-row targets need exactly that many rows in the batch."""
    if len(rows) > 1 and values.shape[0] is not None and values.shape[0] != len(rows):
        raise ValueError(f"{len(rows)} per-row targets for a batch of {values.shape[0]}")


def _rows(rows):
    return len(rows) if len(rows) > 1 else None


def _select(values, rows, what):
    if values.shape.rank != 2:
        plural = what + ("es" if what.endswith("s") else "s")
        raise ValueError(
            f"{what} targets need a (batch, {plural}) tensor, but the layer gives shape "
            f"{tuple(values.shape)}"
        )
    _check_rows(values, rows)
    return tf.reduce_sum(values * _selector(rows, values.shape[-1], what), axis=-1)


@factory
def class_logit(targets):
    """The logit (pre-softmax output) of one or more classes per row."""
    rows = as_targets(targets)
    return Objective(
        lambda acts: _select(acts[OUTPUT], rows, "class"),
        [OUTPUT],
        f"class{list(rows) if len(rows) > 1 else list(rows[0])}",
        class_targets=rows,
        rows=_rows(rows),
        rows_of=lambda a, b: class_logit(rows[a:b]),
    )


@factory
def class_margin(targets, others_weight=1.0):
    """Seed 000's AM objective: the target logit minus ``others_weight`` times the mean of the other
    logits, so that a dream is this class rather than every class at once."""
    rows = as_targets(targets)

    def fn(acts):
        logits = acts[OUTPUT]
        target = _select(logits, rows, "class")
        chosen = _selector(rows, logits.shape[-1], "class")
        others = tf.reduce_sum(logits * (1.0 - tf.minimum(chosen, 1.0)), axis=-1)
        count = tf.reduce_sum(1.0 - tf.minimum(chosen, 1.0), axis=-1)
        return target - others_weight * others / tf.maximum(count, 1.0)

    return Objective(
        fn,
        [OUTPUT],
        f"class_margin{list(rows) if len(rows) > 1 else list(rows[0])}",
        class_targets=rows,
        rows=_rows(rows),
        rows_of=lambda a, b: class_margin(rows[a:b], others_weight),
    )


@factory
def neuron(layer, unit, position=None):
    """One unit of a layer; for conv layers at a spatial position (default: the centre)."""
    rows = as_targets(unit)

    def fn(acts):
        act = acts[layer]
        spatial = act.shape[1:-1]
        if spatial:
            pos = position if position is not None else tuple(s // 2 for s in spatial)
            pos = (pos,) if isinstance(pos, numbers.Integral) else tuple(pos)
            if len(pos) != len(spatial):
                raise ValueError(
                    f"position {pos} does not fit layer '{layer}' of shape {act.shape}"
                )
            act = act[(slice(None),) + pos]
        return _select(act, rows, "unit")

    return Objective(
        fn,
        [layer],
        f"neuron({layer}:{unit})",
        rows=_rows(rows),
        rows_of=lambda a, b: neuron(layer, rows[a:b], position),
    )


@factory
def channel(layer, index):
    """The mean activation of one channel of a 1-D or 2-D conv layer (a unit of a dense layer)."""
    rows = as_targets(index)

    def fn(acts):
        act = acts[layer]
        if act.shape.rank > 2:
            act = tf.reduce_mean(act, axis=list(range(1, act.shape.rank - 1)))
        return _select(act, rows, "channel")

    return Objective(
        fn,
        [layer],
        f"channel({layer}:{index})",
        rows=_rows(rows),
        rows_of=lambda a, b: channel(layer, rows[a:b]),
    )


@factory
def layer(name):
    """The mean square of a layer's activations: what deep dream amplifies."""

    def fn(acts):
        act = acts[name]
        return tf.reduce_mean(tf.square(act), axis=list(range(1, act.shape.rank)))

    return Objective(fn, [name], f"layer({name})")


@factory
def diversity(name):
    """Minus the mean cosine similarity of a row's Gram matrix of ``name`` to the other rows' (lucid).

    Added to another objective it pushes the rows of a batch apart.
    """

    def fn(acts):
        act = acts[name]
        flat = tf.reshape(act, [tf.shape(act)[0], -1, act.shape[-1]])
        gram = tf.matmul(flat, flat, transpose_a=True)
        gram = tf.math.l2_normalize(tf.reshape(gram, [tf.shape(act)[0], -1]), axis=-1)
        sim = tf.matmul(gram, gram, transpose_b=True)
        n = tf.cast(tf.shape(act)[0], act.dtype)
        others = tf.reduce_sum(sim, axis=-1) - tf.linalg.diag_part(sim)
        return -others / tf.maximum(n - 1.0, 1.0)

    return Objective(fn, [name], f"diversity({name})")
