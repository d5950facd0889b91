"""The compiled activation-maximization loop.

One ``tf.function`` runs a chunk of steps inside a ``tf.while_loop``: make the input from the
parameters, transform it at random, run the model, score it, subtract the penalties, take the
gradient, update the parameters with an in-graph optimizer, project them back into range and keep
the best input of each row. Python runs only between chunks (progress bar, callbacks). The function's
signature leaves the batch size and the step count open, so neither retraces it.

On CPU, the many small ops around the model (the parameterization, the transforms, penalties and
their gradients, the optimizer, projections, best-row tracking) cost more in per-op overhead than
in arithmetic, so by default everything after the model's gradient, up to the next step's input,
runs as one XLA-compiled part while the model itself stays on TensorFlow's oneDNN kernels (XLA's
CPU convolutions are slower). Measured in benchmarks/am_speed.py and benchmarks/sound_step.py.
"""

import dataclasses
import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from tfam import optimizers as opt
from tfam import params as param_lib
from tfam.layout import layout_of
from tfam.objectives import OUTPUT
from tfam.pacing import Pace
from tfam.regularizers import LatentPenalty, Penalty, Projection
from tfam.surgery import feature_model, output_activation, with_linear_logits
from tfam.transforms import apply_all


@dataclasses.dataclass
class Result:
    x: np.ndarray  # the input after the last step, (B, ...)
    best_x: np.ndarray  # per row, the input that scored highest
    best_value: np.ndarray  # (B,) that score
    history: np.ndarray  # (steps, B) the objective of every row at every step
    params: np.ndarray  # the final parameters (the latent z for a generator prior)
    probabilities: (
        np.ndarray | None
    )  # (B, classes) the model's probabilities for ``x``; None if not a classifier
    class_targets: tuple | None  # per-row class targets of the objective, if any
    seconds: float
    start_x: np.ndarray | None = (
        None  # the input before the first step (where a latent dream began)
    )

    @property
    def target_probability(self):
        """(B,) the summed probability of each row's target classes for ``x``."""
        if self.probabilities is None or self.class_targets is None:
            return None
        rows = (
            self.class_targets * len(self.x) if len(self.class_targets) == 1 else self.class_targets
        )
        return np.array([self.probabilities[r, list(t)].sum() for r, t in enumerate(rows)])


JIT_MODES = ("auto", True, False, "parts")


def _jit_mode(jit_compile):
    """True: the whole loop through XLA; "parts": only the elementwise parts; False: no XLA."""
    if jit_compile not in JIT_MODES:
        raise ValueError(f"jit_compile must be one of {JIT_MODES}, got {jit_compile!r}")
    if jit_compile == "auto":
        # measured on CPU (MNIST CNN): whole-loop XLA ran 3-5x slower than graph mode, while
        # compiling only the small ops around the model brought the loop close to a bare pass
        return True if tf.config.list_physical_devices("GPU") else "parts"
    return jit_compile


class Dreamer(tf.Module):
    """A compiled optimizer of ``objective`` for ``model``; ``run`` as often as needed without retracing.

    ``jit_compile``: "auto" (the whole loop through XLA on GPU, "parts" on CPU), True, False, or
    "parts" (XLA for the small ops around the model, TensorFlow kernels for the model).
    """

    def __init__(
        self,
        model,
        objective,
        param=None,
        transforms=(),
        regularizers=(),
        optimizer=None,
        learning_rate=0.05,
        jit_compile="auto",
        spatial_rank=None,
    ):
        super().__init__(name="dreamer")
        self.objective = objective
        self.param = param if param is not None else param_lib.direct()
        self.transforms = tuple(transforms)
        self.penalties = tuple(
            r for r in regularizers if isinstance(r, Penalty) and not isinstance(r, LatentPenalty)
        )
        self.latent_penalties = tuple(r for r in regularizers if isinstance(r, LatentPenalty))
        self.projections = tuple(r for r in regularizers if isinstance(r, Projection))
        unknown = [r for r in regularizers if not isinstance(r, (Penalty, Projection))]
        if unknown:
            raise ValueError(f"not a regularizer: {unknown[0]!r}")
        if self.projections and not self.param.direct:
            raise ValueError(
                f"{self.projections[0]!r} rewrites pixels or samples and needs the "
                "direct parameterization"
            )
        if self.latent_penalties and self.param.direct:
            raise ValueError(
                f"{self.latent_penalties[0]!r} acts on a latent; it needs params.latent"
            )
        self.optimizer = optimizer if optimizer is not None else opt.adam(learning_rate)

        self.input_shape = tuple(model.inputs[0].shape[1:])
        if any(d is None for d in self.input_shape):
            raise ValueError(
                f"the model input {self.input_shape} has open dimensions; AM needs a fixed "
                "input size (deep dream handles open sizes)"
            )
        self.layout = layout_of((None,) + self.input_shape, spatial_rank)
        self.param_shape = tuple(self.param.shape(self.input_shape, self.layout))
        scored = with_linear_logits(model) if OUTPUT in objective.layers else model
        self._names, self._features = feature_model(scored, objective.layers)
        # the user's model, rebuilt from its layers: the Dreamer must not keep the model object
        # alive (the cache of Dreamers is keyed weakly by it)
        self._predict = keras.Model(model.inputs, model.outputs)
        self._output_activation = output_activation(model)
        self._checked = set()
        self._check_objective(objective)

        def batch_spec(shape):
            return tf.TensorSpec((None,) + shape, tf.float32)

        probe = self.optimizer.init_state(tf.zeros((1,) + self.param_shape))
        signature = [
            batch_spec(self.param_shape),
            tuple(batch_spec(self.param_shape) for _ in probe),
            batch_spec(self.input_shape),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
            # the objective's targets are data: other classes or channels run in this same loop
            tuple(tf.TensorSpec([None, None], tf.int32) for _ in objective.targets or ()),
        ]
        mode = _jit_mode(jit_compile)
        compile_part = (
            (lambda fn: tf.function(fn, jit_compile=True)) if mode == "parts" else (lambda fn: fn)
        )
        # Everything but the model is small ops (the parameterization, an inverse FFT or STFT, the
        # transforms, penalties, the optimizer, projections, best-row tracking): then the rest of
        # a step after the model's gradient, and the next step's input, is one compiled part (one
        # XLA call a step, fused across what were six). A generator, or a transform XLA cannot
        # compile, keeps the general loop, where the parameterization runs under a tape.
        self._fused = (
            isinstance(self.param, param_lib.Parameterization)
            and self.param.small_ops
            and all(getattr(t, "small_ops", False) for t in self.transforms)
        )
        if self._fused:
            self._begin = compile_part(self._begin_eager)
            self._rest_of_step = compile_part(self._rest_of_step_eager)
            body = self._run_fused_chunk
        else:
            self._penalty_gradient = compile_part(self._penalty_gradient_eager)
            self._update = compile_part(self._update_eager)
            body = self._run_chunk
        self._chunk = tf.function(body, input_signature=signature, jit_compile=mode is True)

    @property
    def trace_count(self):
        return self._chunk.experimental_get_tracing_count()

    def _check_objective(self, objective):
        """Score one zero input eagerly: a wrong layer shape or a target out of range fails here
        with a clear message, not deep inside the compiled loop."""
        if objective in self._checked:
            return
        if objective.structure != self.objective.structure:
            raise ValueError(
                f"this Dreamer computes {self.objective.name}; {objective.name} needs its own"
            )
        probe = tf.zeros((objective.rows or 1,) + self.input_shape)
        try:
            value = self._score(probe, _constants(objective.targets), objective)
        except (ValueError, tf.errors.InvalidArgumentError) as error:
            raise ValueError(
                f"the objective {objective.name} does not fit this model: "
                f"{str(error).strip().splitlines()[-1]}"
            ) from None
        if tuple(value.shape) != (probe.shape[0],):
            raise ValueError(
                f"the objective {objective.name} gives shape {tuple(value.shape)} "
                f"for a batch of {probe.shape[0]}; it must give one value per row"
            )
        self._checked.add(objective)

    def _score(self, x, targets, objective=None):
        acts = self._features(x, training=False)
        if not isinstance(acts, (list, tuple)):
            acts = [acts]
        # a model under a mixed-precision policy computes in bfloat16 or float16: score in float32
        acts = [a if a.dtype == tf.float32 else tf.cast(a, tf.float32) for a in acts]
        objective = self.objective if objective is None else objective
        return objective(dict(zip(self._names, acts)), targets or None)

    def _transform_eager(self, x, seed):
        return apply_all(self.transforms, x, seed, self.layout)

    def _begin_eager(self, params, seed, step):
        """What step ``step`` starts from: the input and, where they differ from it, what the model
        sees (transformed) and the synthesized signal (for the finish's gradient). Only distinct
        tensors: every output of a compiled part is a buffer written."""
        signal = self.param.synthesize(params, self.input_shape, self.layout)
        x = self.param.finish(signal, self.input_shape, self.layout)
        made = [x]
        if self.transforms:
            made.append(self._transform_eager(x, tf.stack([seed, step])))
        if not self.param.direct:
            made.append(signal)
        return tuple(made)

    def _unpack(self, made):
        """(input, what the model sees, synthesized signal or None) from what _begin made."""
        x, rest = made[0], list(made[1:])
        seen = rest.pop(0) if self.transforms else x
        return x, seen, (rest.pop(0) if not self.param.direct else None)

    def _rest_of_step_eager(
        self, params, state, made, seen_grad, value, best_x, best_value, seed, step
    ):
        """From the objective's gradient with respect to what the model saw: the gradient of the
        loss with respect to the parameters, the update, and what the next step starts from."""
        x, _, signal = self._unpack(made)
        grad = seen_grad
        if self.transforms:  # stateless in the seed: computed again, they are the same
            with tf.GradientTape() as tape:
                tape.watch(x)
                seen = self._transform_eager(x, tf.stack([seed, step]))
            grad = tape.gradient(seen, x, output_gradients=grad)
        grad = -grad  # of the loss to minimize
        if self.penalties:
            grad = self._penalty_gradient_eager(x, grad)
        if not self.param.direct:
            with tf.GradientTape() as tape:
                tape.watch(signal)
                finished = self.param.finish(signal, self.input_shape, self.layout)
            grad = tape.gradient(finished, signal, output_gradients=grad)
            with tf.GradientTape() as tape:  # a linear synthesis's forward is left out by XLA
                tape.watch(params)
                synthesized = self.param.synthesize(params, self.input_shape, self.layout)
            grad = tape.gradient(synthesized, params, output_gradients=grad)
        grad = self._latent_penalty_gradient(params, grad)
        params, state, best_x, best_value = self._update_eager(
            params, grad, state, step, x, value, best_x, best_value
        )
        return params, state, self._begin_eager(params, seed, step + 1), best_x, best_value

    def _latent_penalty_gradient(self, params, grad):
        if not self.latent_penalties:
            return grad
        with tf.GradientTape() as tape:
            tape.watch(params)
            penalty = tf.add_n(
                [tf.reduce_sum(p(params, self.layout)) for p in self.latent_penalties]
            )
        return grad + tape.gradient(penalty, params)

    def _penalty_gradient_eager(self, x, grad):
        """grad + the gradient of the summed penalties with respect to the input x."""
        with tf.GradientTape() as tape:
            tape.watch(x)
            penalty = tf.add_n([tf.reduce_sum(p(x, self.layout)) for p in self.penalties])
        return grad + tape.gradient(penalty, x)

    def _update_eager(self, params, grad, state, step, x, value, best_x, best_value):
        """Optimizer step, projections, range, and the best input per row (value scores x)."""
        params, state = self.optimizer.update(params, grad, state, step)
        for projection in self.projections:
            params = projection(params, step, self.layout)
        params = self.param.project(params)
        better = value > best_value
        mask = tf.reshape(better, [-1] + [1] * len(self.input_shape))
        return params, state, tf.where(mask, x, best_x), tf.where(better, value, best_value)

    def _objective_gradient(self, seen, targets):
        """The objective of every row at ``seen`` and the gradient of their sum with respect to it."""
        with tf.GradientTape() as tape:
            tape.watch(seen)
            value = self._score(seen, targets)
            objective = tf.reduce_sum(value)
        return value, tape.gradient(objective, seen)

    def _run_fused_chunk(self, params, state, best_x, best_value, seed, first_step, count, targets):
        history = tf.TensorArray(tf.float32, size=count, element_shape=best_value.shape)

        def body(i, params, state, made, best_x, best_value, history):
            value, seen_grad = self._objective_gradient(self._unpack(made)[1], targets)
            params, state, made, best_x, best_value = self._rest_of_step(
                params, state, made, seen_grad, value, best_x, best_value, seed, first_step + i
            )
            return i + 1, params, state, made, best_x, best_value, history.write(i, value)

        made = self._begin(params, seed, first_step)
        loop = (0, params, state, made, best_x, best_value, history)
        _, params, state, _, best_x, best_value, history = tf.while_loop(
            lambda i, *_: i < count, body, loop
        )
        return params, state, best_x, best_value, history.stack()

    def _run_chunk(self, params, state, best_x, best_value, seed, first_step, count, targets):
        """The general loop: the parameterization (a generator) runs under a tape, so that its
        backward pass needs no second forward pass."""
        history = tf.TensorArray(tf.float32, size=count, element_shape=best_value.shape)

        def body(i, params, state, best_x, best_value, history):
            step = first_step + i
            with tf.GradientTape() as param_tape:
                param_tape.watch(params)
                x = self.param.to_input(params, self.input_shape, self.layout)
            with tf.GradientTape() as tape:
                tape.watch(x)
                seen = self._transform_eager(x, tf.stack([seed, step])) if self.transforms else x
                value = self._score(seen, targets)
                objective = tf.reduce_sum(value)
            grad = -tape.gradient(objective, x)  # of the loss to minimize, with respect to x
            if self.penalties:
                grad = self._penalty_gradient(x, grad)
            if not self.param.direct:
                grad = param_tape.gradient(x, params, output_gradients=grad)
            grad = self._latent_penalty_gradient(params, grad)
            params, state, best_x, best_value = self._update(
                params, grad, state, step, x, value, best_x, best_value
            )
            return i + 1, params, state, best_x, best_value, history.write(i, value)

        _, params, state, best_x, best_value, history = tf.while_loop(
            lambda i, *_: i < count, body, (0, params, state, best_x, best_value, history)
        )
        return params, state, best_x, best_value, history.stack()

    def run(
        self,
        steps=200,
        batch_size=None,
        seed=0,
        callbacks=(),
        verbose=1,
        chunk_size=None,
        start_params=None,
        objective=None,
    ):
        """Optimize a batch for ``steps`` steps; returns a Result. Rows follow the objective's targets.
        ``start_params``: the parameters to start from (default: the parameterization's random start
        drawn with ``seed``). ``objective``: another objective of the same structure (other
        targets) to optimize in this same compiled loop."""
        objective = self.objective if objective is None else objective
        self._check_objective(objective)
        targets = _constants(objective.targets)
        rows = objective.rows
        if batch_size is None:
            batch_size = rows or 1
        elif rows and batch_size != rows:
            raise ValueError(
                f"the objective has targets for {rows} rows but batch_size is {batch_size}"
            )
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if start_params is None:
            start_params = self.initial_params(batch_size, seed)
        params = tf.constant(start_params, tf.float32)
        if tuple(params.shape) != (batch_size,) + self.param_shape:
            raise ValueError(
                f"start_params has shape {tuple(params.shape)}, expected "
                f"{(batch_size,) + self.param_shape}"
            )
        # the start obeys the projections too (silence where the model does not listen, the
        # loudness bound), so that the first step does not see an input no later step can have
        for projection in self.projections:
            params = projection(params, tf.constant(0), self.layout)
        state = tuple(self.optimizer.init_state(params))
        x0 = self.param.to_input(params, self.input_shape, self.layout)
        best_x, best_value = tf.identity(x0), tf.fill([batch_size], -np.inf)
        # chunks of about half a second: Python sees Ctrl-C, draws progress and calls back between them
        pace = Pace(first=chunk_size, limit=chunk_size) if chunk_size else Pace()
        bar = keras.utils.Progbar(steps, verbose=1 if verbose else 0, unit_name="step")
        history, done, started = [], 0, time.perf_counter()
        while done < steps:
            count, chunk_started = pace.next(steps - done), time.perf_counter()
            params, state, best_x, best_value, values = self._chunk(
                params,
                state,
                best_x,
                best_value,
                tf.constant(seed, tf.int32),
                tf.constant(done, tf.int32),
                tf.constant(count, tf.int32),
                targets,
            )
            values = values.numpy()
            if not chunk_size:  # a chunk_size the caller gave stays fixed
                pace.took(count, time.perf_counter() - chunk_started)
            bad = np.argwhere(~np.isfinite(values))
            if len(bad):
                step, row = bad[0]
                raise FloatingPointError(
                    f"the objective became {values[step, row]} at step {done + step} (row {row}): "
                    "the model produced non-finite values; check the model and its input range, or "
                    "lower the learning rate"
                )
            history.append(values)
            done += count
            bar.update(done, values=[("objective", float(values[-1].mean()))])
            for callback in callbacks:
                callback(Progress(done, steps, values[-1], params, self))
        x = self.param.to_input(params, self.input_shape, self.layout)
        return Result(
            x=x.numpy(),
            best_x=best_x.numpy(),
            best_value=best_value.numpy(),
            history=np.concatenate(history),
            params=params.numpy(),
            probabilities=self.probabilities(x),
            class_targets=objective.class_targets,
            seconds=time.perf_counter() - started,
            start_x=x0.numpy(),
        )

    def initial_params(self, batch_size, seed=0):
        """The parameterization's random start for ``batch_size`` rows, drawn with ``seed``."""
        rng = np.random.default_rng(seed)
        return self.param.init(batch_size, self.input_shape, self.layout, rng)

    def probabilities(self, x):
        """The model's class probabilities for a batch, or None when its output is not (B, classes)."""
        out = self._predict(x, training=False).numpy()
        if out.ndim != 2:
            return None
        # a softmax hidden inside an opaque layer (a SavedModel) shows only in the numbers
        is_distribution = np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-4)
        if self._output_activation is not None or is_distribution:
            return out  # already probabilities (softmax, or per-class sigmoid)
        if out.shape[1] == 1:
            return tf.sigmoid(out).numpy()  # one linear unit: a binary classifier's logit
        return tf.nn.softmax(out).numpy()


def _constants(targets):
    return tuple(tf.constant(t) for t in targets or ())


@dataclasses.dataclass
class Progress:
    """What a callback sees between chunks."""

    step: int
    steps: int
    values: np.ndarray  # (B,) the objective at the last step
    params: tf.Tensor
    dreamer: Dreamer
    first_row: int = 0  # where these rows stand in the whole batch (dream(..., max_batch=...))

    def input(self):
        return self.dreamer.param.to_input(
            self.params, self.dreamer.input_shape, self.dreamer.layout
        ).numpy()


_dreamers = (
    weakref.WeakKeyDictionary()
)  # model -> {components: Dreamer}, so repeated calls reuse traces


def dream(
    model,
    objective,
    param=None,
    transforms=(),
    regularizers=(),
    steps=200,
    batch_size=None,
    optimizer=None,
    learning_rate=0.05,
    jit_compile="auto",
    seed=0,
    callbacks=(),
    verbose=1,
    spatial_rank=None,
    chunk_size=None,
    max_batch=None,
):
    """Optimize an input (or a batch of them) until ``objective`` is high; returns a Result.

    The compiled loop is kept per model and per set of components: calling again with an equal
    objective, parameterization, transforms and regularizers (they compare by value:
    tfam.immutable) reuses it, whatever the steps, batch size or seed.

    ``max_batch``: run at most this many rows at a time (memory grows with the batch), e.g. for all
    512 channels of a layer. The rows start where one run of the whole batch would start them.
    """

    def build(part):
        return Dreamer(
            model,
            part,
            param,
            transforms,
            regularizers,
            optimizer,
            learning_rate,
            jit_compile,
            spatial_rank,
        )

    rows = objective.rows or batch_size or 1
    if max_batch is not None and max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    # keyed by the objective's structure: other targets (classes, channels, the parts of a wide
    # batch) are data fed to the same compiled loop
    key = (
        objective.structure,
        param,
        tuple(transforms),
        tuple(regularizers),
        optimizer,
        learning_rate,
        jit_compile,
        spatial_rank,
    )
    cache = _dreamers.setdefault(model, {})
    if key not in cache:  # built for (and its first check run on) at most max_batch rows
        cache[key] = build(
            objective
            if max_batch is None or rows <= max_batch
            else objective.select_rows(0, max_batch)
        )
    dreamer = cache[key]
    if max_batch is None or rows <= max_batch:
        return dreamer.run(
            steps, batch_size, seed, callbacks, verbose, chunk_size, objective=objective
        )
    results, start = [], dreamer.initial_params(rows, seed)
    for first in range(0, rows, max_batch):
        last = min(first + max_batch, rows)
        if verbose:
            print(f"rows {first + 1}-{last} of {rows}")
        shifted = [_with_first_row(callback, first) for callback in callbacks]
        results.append(
            dreamer.run(
                steps,
                last - first,
                seed,
                shifted,
                verbose,
                chunk_size,
                start_params=start[first:last],
                objective=objective.select_rows(first, last),
            )
        )
    return _concatenate(results)


def _with_first_row(callback, first_row):
    return lambda progress: callback(dataclasses.replace(progress, first_row=first_row))


def _concatenate(results):
    """One Result from Results of consecutive rows."""

    def rows(field, axis=0):
        values = [getattr(r, field) for r in results]
        return None if values[0] is None else np.concatenate(values, axis=axis)

    targets = [r.class_targets for r in results]
    return Result(
        x=rows("x"),
        best_x=rows("best_x"),
        best_value=rows("best_value"),
        history=rows("history", axis=1),
        params=rows("params"),
        probabilities=rows("probabilities"),
        class_targets=None if targets[0] is None else sum(targets, ()),
        seconds=sum(r.seconds for r in results),
        start_x=rows("start_x"),
    )
