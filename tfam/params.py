"""How the optimized input is made from the parameters that the optimizer changes.

A parameterization knows the shape of its parameters for a model input, how to start them, how to
turn them into an input (``to_input``, differentiable) and how to bring them back into range after an
update (``project``). ``to_input`` is ``finish(synthesize(params))``: the engine keeps the
synthesized signal between steps, so that the gradient of the finish (a squash, a normalization)
does not synthesize again, and the gradient of a linear synthesis (an inverse FFT) needs none of
its forward pass.

- ``direct``: the pixels or samples themselves, clipped into the input range every step.
- ``fourier``: a spectrum scaled by 1/f**decay (lucid), decorrelating neighbouring pixels/samples;
  one batched inverse FFT for the whole batch; squashed into the range by a sigmoid.
- ``latent``: the latent vector z of a Keras generator, so that the dream stays on the generator's
  manifold (a GAN prior).
"""

import numpy as np
import tensorflow as tf

from tfam.immutable import Immutable


class Parameterization(Immutable):
    """The input is ``finish(synthesize(params))``; ``small_ops``: XLA can compile both (the engine
    then compiles them with the small ops around the model)."""

    direct = False
    small_ops = True

    def synthesize(self, params, input_shape, layout):
        raise NotImplementedError

    def finish(self, signal, input_shape, layout):
        return signal

    def to_input(self, params, input_shape, layout):
        return self.finish(self.synthesize(params, input_shape, layout), input_shape, layout)

    def project(self, params):
        return params


class Direct(Parameterization):
    """Optimize the input itself; start from ``start`` (one input or a batch) or from mid-range noise."""

    direct = True

    def __init__(self, value_range=(0.0, 1.0), start=None, noise=0.05):
        start = None if start is None else np.array(start, np.float32)  # a private copy
        self._set(value_range=tuple(float(v) for v in value_range), start=start, noise=noise)

    def shape(self, input_shape, layout):
        return tuple(input_shape)

    def init(self, batch, input_shape, layout, rng):
        lo, hi = self.value_range
        if self.start is not None:
            start = self.start
            if start.shape == tuple(input_shape):
                start = np.broadcast_to(start, (batch,) + start.shape)
            if start.shape != (batch,) + tuple(input_shape):
                raise ValueError(
                    f"start of shape {self.start.shape} does not fit the model input "
                    f"{tuple(input_shape)} (batch {batch})"
                )
            if not np.all(np.isfinite(start)):
                raise ValueError("start contains NaN or infinite values")
            return np.clip(start, lo, hi).astype(np.float32)
        centre = (lo + hi) / 2.0
        values = centre + self.noise * (hi - lo) * rng.standard_normal(
            (batch,) + tuple(input_shape)
        )
        return np.clip(values, lo, hi).astype(np.float32)

    def synthesize(self, params, input_shape, layout):
        return params

    def project(self, params):
        return tf.clip_by_value(params, *self.value_range)


class Fourier(Parameterization):
    """Optimize a 1/f-scaled spectrum (1-D or 2-D) whose inverse FFT, squashed into range, is the input."""

    def __init__(self, value_range=(0.0, 1.0), decay_power=1.0, sd=0.01):
        self._set(value_range=tuple(float(v) for v in value_range), decay_power=decay_power, sd=sd)

    def _geometry(self, input_shape, layout):
        """Spatial size, channel count and the per-frequency scale of the spectrum."""
        spatial = tuple(input_shape[a - 1] for a in layout.spatial_axes)
        channels = 1 if layout.channel_axis is None else input_shape[-1]
        if layout.spatial_rank == 1:
            freqs = np.abs(np.fft.rfftfreq(spatial[0]))
        else:
            fy = np.fft.fftfreq(spatial[0])[:, None]
            fx = np.fft.rfftfreq(spatial[1])[None, :]
            freqs = np.sqrt(fx * fx + fy * fy)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(spatial)) ** self.decay_power
        # Normalize by the spectrum's energy, so that a unit-variance spectrum gives a signal of
        # about unit variance whatever the size and rank (irfft divides by the size; rfft keeps
        # half the spectrum, hence the factor 2).
        scale *= np.prod(spatial) / np.sqrt(2.0 * np.sum(scale**2))
        return spatial, channels, scale.astype(np.float32)

    def shape(self, input_shape, layout):
        spatial, channels, scale = self._geometry(input_shape, layout)
        return (channels,) + scale.shape + (2,)  # real and imaginary parts

    def init(self, batch, input_shape, layout, rng):
        shape = (batch,) + self.shape(input_shape, layout)
        return (self.sd * rng.standard_normal(shape)).astype(np.float32)

    def synthesize(self, params, input_shape, layout):
        spatial, _, scale = self._geometry(input_shape, layout)
        spectrum = tf.complex(params[..., 0], params[..., 1]) * tf.cast(scale, tf.complex64)
        if len(spatial) == 1:
            signal = tf.signal.irfft(spectrum, fft_length=list(spatial))  # (B, C, L)
            signal = tf.transpose(signal, [0, 2, 1])
        else:
            signal = tf.signal.irfft2d(spectrum, fft_length=list(spatial))  # (B, C, H, W)
            signal = tf.transpose(signal, [0, 2, 3, 1])
        return signal if layout.channel_axis is not None else signal[..., 0]

    def finish(self, signal, input_shape, layout):
        lo, hi = self.value_range
        return lo + (hi - lo) * tf.sigmoid(signal)


class Latent(Parameterization):
    """Optimize the latent z of a Keras generator whose output is the classifier's input.

    A conditional generator (inputs z and a class index) takes ``condition``: one class for every
    row, or one per row; the class input then steers the generator while AM moves z."""

    small_ops = False  # a generator: its convolutions run on TensorFlow's kernels

    def __init__(self, generator, dim=None, sd=1.0, distribution="normal", condition=None):
        latent_shape = tuple(generator.inputs[0].shape[1:])
        if dim is None and len(latent_shape) != 1:
            raise ValueError(
                f"the generator takes a latent of shape {latent_shape}; tfam optimizes a "
                "flat z: give the generator a (dim,) input (e.g. add a Reshape)"
            )
        if distribution not in ("normal", "uniform"):
            raise ValueError(f"distribution must be 'normal' or 'uniform', got '{distribution}'")
        conditional = len(generator.inputs) == 2
        if conditional != (condition is not None):
            raise ValueError(
                "a conditional generator (z and a class input) needs condition=CLASS"
                if conditional
                else "condition= is for generators with a class input"
            )
        if len(generator.inputs) > 2:
            raise ValueError(
                f"the generator takes {len(generator.inputs)} inputs; tfam knows z, or z "
                "and a class"
            )
        condition = (
            None if condition is None else tuple(np.atleast_1d(condition).astype(int).tolist())
        )
        self._set(
            generator=generator,
            dim=dim if dim is not None else latent_shape[0],
            sd=sd,
            distribution=distribution,
            condition=condition,
        )

    def shape(self, input_shape, layout):
        out = tuple(self.generator.outputs[0].shape[1:])
        if out != tuple(input_shape):
            raise ValueError(
                f"the generator makes inputs of shape {out}, but the model takes "
                f"{tuple(input_shape)}"
            )
        return (self.dim,)

    def init(self, batch, input_shape, layout, rng):
        self.shape(input_shape, layout)
        if self.condition is not None and len(self.condition) not in (1, batch):
            raise ValueError(f"{len(self.condition)} conditions for a batch of {batch}")
        if self.distribution == "uniform":
            return rng.uniform(-1.0, 1.0, (batch, self.dim)).astype(np.float32)
        return (self.sd * rng.standard_normal((batch, self.dim))).astype(np.float32)

    def synthesize(self, params, input_shape, layout):
        if self.condition is None:
            return self.generator(params, training=False)
        labels = tf.constant(self.condition, tf.int32)
        labels = (
            tf.broadcast_to(labels, [tf.shape(params)[0]]) if len(self.condition) == 1 else labels
        )
        return self.generator([params, labels], training=False)


direct = Direct
fourier = Fourier
latent = Latent
