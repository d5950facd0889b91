"""Training the GAN priors with WGAN-GP: WaveGAN on raw waveforms, seed 000's mel GAN on log-mels.

    trainer = GanTrainer(GanConfig(kind="wavegan", iterations=2000, samples=16384, width=1/16,
                                   logdir="logs_gan"), waveforms)        # (N, samples) in [-1, 1]
    trainer.train()                                     # -> logdir/model/generator.keras

    logdir/model/        ckpt-N (generator, discriminator, both optimizers, step, random state),
                         config.json, and at the end generator.keras + generator.json
    logdir/tensorboard/  scalars d_loss, g_loss, gradient_penalty, wasserstein (the critic's estimate
                         E[D(real)] - E[D(fake)]); generated/audio + generated/spectrogram
                         (waveforms) or generated/mel (mels) of a fixed z every summary_every steps;
                         real/... examples once

WGAN-GP (Gulrajani et al. 2017) as WaveGAN trained it: for every generator update, n_critic (5)
critic updates on fresh real batches, critic loss E[D(fake)] - E[D(real)] + 10 * E[(|grad D(x^)| - 1)^2]
at random interpolates x^ of real and fake, generator loss -E[D(fake)], Adam 1e-4 (beta 0.5, 0.9).
A "step" is one generator update; --resume continues the count. The latent noise, the
interpolation weights and the phase shuffle draw from random state kept in the checkpoint, so a
resumed run continues those streams rather than replaying them.

Conditional GANs (labels given) feed the real batch's labels to the generator and to the
projection critic; generator.keras then takes [z, label].
"""

import dataclasses
import os
import signal
import time

import keras
import numpy as np
import tensorflow as tf

from tfam import outputs
from tfam.train.run_dir import check_run_dir

KINDS = ("wavegan", "mel")
DISTRIBUTIONS = ("uniform", "normal")
DEFAULT_LATENT = {
    "wavegan": (100, "uniform"),
    "mel": (512, "normal"),
}  # WaveGAN; seed 000 (N(0, 1))
# Settings a resumed run must share with the run it continues (they shape the models or the data).
ARCHITECTURE_KEYS = (
    "kind",
    "latent_dim",
    "latent_distribution",
    "width",
    "samples",
    "n_mels",
    "frames",
    "phase_shuffle",
    "n_classes",
    "class_names",
)


@dataclasses.dataclass
class GanConfig:
    kind: str = "wavegan"  # wavegan: (N, samples) waveforms; mel: (N, n_mels, frames) in [0, 1]
    iterations: int = 1000  # generator updates (the step count)
    batch_size: int = 64
    n_critic: int = 5
    gp_weight: float = 10.0
    learning_rate: float = 1e-4
    beta_1: float = 0.5
    beta_2: float = 0.9
    latent_dim: int = 0  # 0: the kind's default (WaveGAN 100, mel 512)
    latent_distribution: str = ""  # "": the kind's default (WaveGAN uniform [-1, 1], mel N(0, 1))
    width: float = 1.0
    samples: int = 16384  # wavegan: generated length (16 x 4^k); data is cropped/padded to it
    n_mels: int = 80  # mel: generated shape; data is cropped/padded to `frames`
    frames: int = 160
    phase_shuffle: int = 2  # wavegan critic
    sample_rate: int = 16000  # of the waveforms (or of the audio behind the mels)
    n_classes: int = 0  # 0: unconditional
    class_names: tuple = ()
    logdir: str = "logs_gan"
    summary_every: int = 100  # steps between generated audio / pictures in TensorBoard
    ckpt_every: int = 500
    keep_checkpoints: int = 3
    seed: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown GAN kind '{self.kind}'; choose one of: {', '.join(KINDS)}")
        latent_dim, distribution = DEFAULT_LATENT[self.kind]
        self.latent_dim = self.latent_dim or latent_dim
        self.latent_distribution = self.latent_distribution or distribution
        self.class_names = tuple(self.class_names)
        if self.latent_distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"unknown latent distribution '{self.latent_distribution}'; choose one "
                f"of: {', '.join(DISTRIBUTIONS)}"
            )
        for name in (
            "iterations",
            "batch_size",
            "n_critic",
            "summary_every",
            "ckpt_every",
            "keep_checkpoints",
            "latent_dim",
            "sample_rate",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.width <= 0 or self.learning_rate <= 0 or self.gp_weight < 0:
            raise ValueError("width and learning_rate must be positive, gp_weight not negative")
        if self.class_names and len(self.class_names) != self.n_classes:
            raise ValueError(f"{len(self.class_names)} class names for {self.n_classes} classes")

    @property
    def conditional(self):
        return self.n_classes > 0

    def example_shape(self):
        """One generated (and fed) example: (samples,) or (n_mels, frames, 1)."""
        return (self.samples,) if self.kind == "wavegan" else (self.n_mels, self.frames, 1)

    def architecture_settings(self):
        return {k: getattr(self, k) for k in ARCHITECTURE_KEYS}


def build_gan(config):
    """(generator, discriminator) for ``config``."""
    from tfam.models.mel_gan import mel_discriminator, mel_generator
    from tfam.models.wavegan import wavegan_discriminator, wavegan_generator

    n_classes = config.n_classes or None
    if config.kind == "wavegan":
        return (
            wavegan_generator(config.latent_dim, config.samples, config.width, n_classes),
            wavegan_discriminator(config.samples, config.width, n_classes, config.phase_shuffle),
        )
    return (
        mel_generator(config.latent_dim, config.n_mels, config.frames, config.width, n_classes),
        mel_discriminator(config.n_mels, config.frames, config.width, n_classes),
    )


def sample_latent(n, latent_dim, distribution="uniform", seed=0):
    """numpy z for a generator: uniform in [-1, 1] (WaveGAN) or N(0, 1) (seed 000), float32 (n, dim)."""
    rng = np.random.default_rng(seed)
    if distribution == "uniform":
        return rng.uniform(-1.0, 1.0, (n, latent_dim)).astype(np.float32)
    return rng.standard_normal((n, latent_dim)).astype(np.float32)


def gradient_penalty(critic, real, fake, epsilon):
    """WGAN-GP's penalty: the batch mean of (|grad_x critic(x^)|_2 - 1)^2 at x^ = e real + (1 - e) fake,
    one weight e in [0, 1] per example (``epsilon``, shape (B,)). ``critic`` maps a batch to (B,) or
    (B, 1) scores with examples independent of each other (no batch norm), so the gradient of their
    sum is every example's own gradient. Returns (penalty, per-example gradient norms)."""
    real = tf.convert_to_tensor(real, tf.float32)
    fake = tf.convert_to_tensor(fake, tf.float32)
    e = tf.reshape(tf.cast(epsilon, real.dtype), [-1] + [1] * (real.shape.rank - 1))
    interpolates = e * real + (1.0 - e) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = critic(interpolates)
    gradients = tape.gradient(scores, interpolates)
    axes = list(range(1, real.shape.rank))
    # + 1e-12 under the root: a finite second derivative where the gradient vanishes
    norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=axes) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0)), norms


def check_examples(config, data, labels=None):
    """float32 data in the layout the trainer feeds: (N, L) waveforms or (N, n_mels, F) mels (a
    trailing channel axis of 1 is dropped); int32 labels or None. Clear errors for the rest."""
    data = np.asarray(data)
    if data.dtype == np.int16:
        data = data.astype(np.float32) / 32768.0
    data = np.asarray(data, np.float32)
    if config.kind == "mel" and data.ndim == 4 and data.shape[-1] == 1:
        data = data[..., 0]
    want = (
        "(N, samples) waveforms"
        if config.kind == "wavegan"
        else f"(N, {config.n_mels}, frames) mels"
    )
    if data.ndim != (2 if config.kind == "wavegan" else 3):
        raise ValueError(
            f"the {config.kind} GAN trains on {want}; got an array of shape {data.shape}"
        )
    if config.kind == "mel" and data.shape[1] != config.n_mels:
        raise ValueError(
            f"the mels have {data.shape[1]} mel bands; the mel GAN was set up for "
            f"{config.n_mels} (shape {data.shape})"
        )
    if len(data) < config.batch_size:
        raise ValueError(
            f"{len(data)} training examples, fewer than the batch size {config.batch_size}; "
            "use more data or a smaller batch"
        )
    if data.shape[-1] < 1:
        raise ValueError(f"the training examples are empty (shape {data.shape})")
    if not np.all(np.isfinite(data)):
        raise ValueError("the training data holds NaN or infinite values")
    if config.conditional:
        if labels is None:
            raise ValueError("a conditional GAN needs labels")
        labels = np.asarray(labels)
        if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"labels {labels.shape} {labels.dtype} do not fit {len(data)} examples "
                "(one integer class index each)"
            )
        if labels.min() < 0 or labels.max() >= config.n_classes:
            raise ValueError(
                f"labels range over {labels.min()}..{labels.max()}; there are "
                f"{config.n_classes} classes"
            )
        labels = labels.astype(np.int32)
    else:
        labels = None
    return data, labels


def real_batches(data, labels, batch_size, length, seed=0):
    """Endless tf.data batches (x, labels) of shuffled examples, each cropped along its last axis
    (time) to ``length`` at a random place, or, when shorter, zero-padded with the example at a
    random place. Waveforms come out (B, length); mels (B, n_mels, length, 1). Crop positions are
    stateless functions of (seed, batch number): reproducible."""
    n, size = len(data), data.shape[-1]
    if size < length:  # pad both ends by the shortfall: every crop then holds the whole example
        pad = [(0, 0)] * (data.ndim - 1) + [(length - size, length - size)]
        data = np.pad(data, pad)
    store = tf.constant(data)
    label_store = tf.constant(labels if labels is not None else np.zeros(n, np.int32))
    room = data.shape[-1] - length + 1
    is_mel = data.ndim == 3

    def gather(count, index):
        x = tf.gather(store, index)
        offset = tf.random.stateless_uniform(
            (batch_size, 1), [seed, count], 0, room, dtype=tf.int32
        )
        positions = offset + tf.range(length)[None, :]
        if is_mel:  # crop the time axis of (B, mels, T): move it next to the batch axis first
            x = tf.transpose(
                tf.gather(tf.transpose(x, [0, 2, 1]), positions, batch_dims=1), [0, 2, 1]
            )
            x = x[..., None]
        else:
            x = tf.gather(x, positions, batch_dims=1)
        return x, tf.gather(label_store, index)

    indices = (
        tf.data.Dataset.range(n)
        .shuffle(min(n, 10000), seed=seed)
        .repeat()
        .batch(batch_size, drop_remainder=True)
    )
    return (
        tf.data.Dataset.zip(tf.data.Dataset.counter(), indices)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def waveforms_to_mels(waveforms, sample_rate, batch_size=32):
    """Log-mels scaled to [0, 1], (N, n_mels, frames) float32, by tfam.audio.mel.LogMel(scale_to_unit=True)
    at ``sample_rate`` (seed 000's features: 80 bands, hop 256)."""
    from tfam.audio.mel import WIN, LogMel

    shortest = WIN // 2 + 1  # the centred STFT reflect-pads by half a window
    if waveforms.shape[1] < shortest:
        raise ValueError(
            f"clips of {waveforms.shape[1]} samples are too short for log-mels (at least "
            f"{shortest})"
        )
    layer = LogMel(sample_rate=sample_rate, scale_to_unit=True)
    parts = [
        np.asarray(layer(tf.constant(waveforms[i : i + batch_size], tf.float32)))[..., 0]
        for i in range(0, len(waveforms), batch_size)
    ]
    return np.concatenate(parts).astype(np.float32)


def _duration(seconds):
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def _mel_images(mels):
    """(B, mels, frames, 1) in [0, 1] as images with low frequencies at the bottom."""
    return tf.clip_by_value(tf.reverse(tf.convert_to_tensor(mels, tf.float32), axis=[1]), 0.0, 1.0)


class GanTrainer:
    """Owns the generator, critic, both optimizers, the checkpoint and the summary writer of one run."""

    METRICS = ("d_loss", "g_loss", "gradient_penalty", "wasserstein")

    def __init__(self, config, data, labels=None, resume=False, overwrite=False, progress_every=10):
        self.config, self.progress_every = config, progress_every
        self.data, self.labels = check_examples(config, data, labels)
        self.model_dir = os.path.join(config.logdir, "model")
        self.tb_dir = os.path.join(config.logdir, "tensorboard")
        check_run_dir(self.model_dir, config.architecture_settings(), resume, overwrite)
        keras.utils.set_random_seed(config.seed)
        self.generator, self.discriminator = build_gan(config)
        self.g_optimizer, self.d_optimizer = (
            keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, beta_2=config.beta_2)
            for _ in range(2)
        )
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.rng = tf.random.Generator.from_seed(config.seed)
        n_fixed = min(max(3, config.n_classes), 10)
        self.fixed_z = tf.Variable(
            sample_latent(n_fixed, config.latent_dim, config.latent_distribution, config.seed),
            trainable=False,
            name="fixed_z",
        )
        self.fixed_labels = tf.constant(np.arange(n_fixed) % max(config.n_classes, 1), tf.int32)
        self.checkpoint = tf.train.Checkpoint(
            generator=self.generator,
            discriminator=self.discriminator,
            g_optimizer=self.g_optimizer,
            d_optimizer=self.d_optimizer,
            step=self.step,
            rng=self.rng,
            fixed_z=self.fixed_z,
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.model_dir, max_to_keep=config.keep_checkpoints
        )
        if resume and self.manager.latest_checkpoint:
            self.checkpoint.restore(
                self.manager.latest_checkpoint
            ).assert_existing_objects_matched()
            print(f"resumed from {self.manager.latest_checkpoint} at step {int(self.step)}")
        outputs.write_json(
            os.path.join(self.model_dir, "config.json"),
            {**dataclasses.asdict(config), "class_names": list(config.class_names)},
        )
        self.writer = tf.summary.create_file_writer(self.tb_dir)
        self._train_step = self._compile_train_step()

    # -- the models ------------------------------------------------------------------------------
    def _inputs(self, x, labels):
        return [x, labels] if self.config.conditional else x

    def generate(self, z, labels=None, training=False):
        """Generator output for z (and labels when conditional)."""
        z = tf.convert_to_tensor(z, tf.float32)
        if self.config.conditional:
            labels = tf.convert_to_tensor(
                labels if labels is not None else tf.zeros(len(z), tf.int32), tf.int32
            )
        return self.generator(self._inputs(z, labels), training=training)

    def _latent(self, n):
        shape = (n, self.config.latent_dim)
        if self.config.latent_distribution == "uniform":
            return self.rng.uniform(shape, -1.0, 1.0)
        return self.rng.normal(shape)

    # -- the compiled step -----------------------------------------------------------------------
    def _compile_train_step(self):
        c, G, D = self.config, self.generator, self.discriminator

        def critic_step(real, labels):
            batch = tf.shape(real)[0]
            fake = tf.stop_gradient(G(self._inputs(self._latent(batch), labels), training=True))
            epsilon = self.rng.uniform((batch,))
            with tf.GradientTape() as tape:
                d_real = tf.reduce_mean(D(self._inputs(real, labels), training=True))
                d_fake = tf.reduce_mean(D(self._inputs(fake, labels), training=True))
                penalty, _ = gradient_penalty(
                    lambda x: D(self._inputs(x, labels), training=True), real, fake, epsilon
                )
                wasserstein = d_real - d_fake
                d_loss = -wasserstein + c.gp_weight * penalty
            gradients = tape.gradient(d_loss, D.trainable_variables)
            self.d_optimizer.apply_gradients(zip(gradients, D.trainable_variables))
            return d_loss, penalty, wasserstein

        @tf.function
        def critic_update(iterator):
            real, labels = next(iterator)
            return critic_step(real, labels), labels

        @tf.function
        def generator_update(labels):
            z = self._latent(tf.shape(labels)[0])
            with tf.GradientTape() as tape:
                fake = G(self._inputs(z, labels), training=True)
                g_loss = -tf.reduce_mean(D(self._inputs(fake, labels), training=True))
            gradients = tape.gradient(g_loss, G.trainable_variables)
            self.g_optimizer.apply_gradients(zip(gradients, G.trainable_variables))
            return g_loss

        def train_step(iterator):
            """n_critic critic updates, then one generator update with the last real batch's labels.
            Two compiled functions called from Python: one graph with n_critic critic updates
            unrolled took minutes to trace, and a tf.while_loop over them ran slower."""
            totals = np.zeros(3)
            for _ in range(c.n_critic):
                values, labels = critic_update(iterator)
                totals += [float(v) for v in values]
            g_loss = generator_update(labels)
            d_loss, penalty, wasserstein = totals / c.n_critic
            return {
                "d_loss": d_loss,
                "g_loss": float(g_loss),
                "gradient_penalty": penalty,
                "wasserstein": wasserstein,
            }

        return train_step

    # -- summaries and saving --------------------------------------------------------------------
    def _titles(self, n):
        c = self.config
        if not c.conditional:
            return None
        names = c.class_names or tuple(str(i) for i in range(c.n_classes))
        return [names[int(i)] for i in self.fixed_labels.numpy()[:n]]

    def _log_examples(self, name, x, step, titles=None):
        from tfam.report import summaries

        c, n = self.config, len(x)
        if c.kind == "wavegan":
            x = np.asarray(x)
            summaries.log_audio(f"{name}/audio", x, c.sample_rate, step, max_outputs=n)
            summaries.log_spectrograms(
                f"{name}/spectrogram", x, c.sample_rate, step, titles=titles, max_outputs=n
            )
        else:
            tf.summary.image(f"{name}/mel", _mel_images(x), step=step, max_outputs=n)

    def log_generated(self):
        """The generator's output for the fixed z (inference mode), as audio and pictures."""
        step = int(self.step)
        fake = self.generate(self.fixed_z, self.fixed_labels, training=False)
        with self.writer.as_default():
            self._log_examples("generated", fake, step, self._titles(len(fake)))
        self.writer.flush()

    def log_real(self, batch):
        x, y = batch
        n = int(self.fixed_z.shape[0])
        names = self.config.class_names or tuple(
            str(i) for i in range(max(self.config.n_classes, 1))
        )
        titles = [names[int(i)] for i in y.numpy()[:n]] if self.config.conditional else None
        with self.writer.as_default():
            self._log_examples("real", x[:n], int(self.step), titles)

    def save_generator(self):
        """logdir/model/generator.keras and generator.json (what a GAN-prior dream needs to know)."""
        c = self.config
        path = os.path.join(self.model_dir, "generator.keras")
        with outputs.atomic_path(path) as tmp:
            self.generator.save(tmp)
        info = {
            "kind": c.kind,
            "latent_dim": c.latent_dim,
            "latent_distribution": c.latent_distribution,
            "sample_rate": c.sample_rate,
            "n_classes": c.n_classes,
            "class_names": list(c.class_names),
            "inputs": [t.name for t in self.generator.inputs],
            "output_shape": list(c.example_shape()),
            "output_range": [-1.0, 1.0] if c.kind == "wavegan" else [0.0, 1.0],
            "steps": int(self.step),
            "width": c.width,
        }
        outputs.write_json(os.path.join(self.model_dir, "generator.json"), info)
        return path

    # -- the loop --------------------------------------------------------------------------------
    def train(self):
        """Train up to config.iterations steps; returns the last step's metrics (floats)."""
        c = self.config
        length = c.samples if c.kind == "wavegan" else c.frames
        data = real_batches(
            self.data, self.labels, c.batch_size, length, seed=c.seed + int(self.step)
        )
        iterator = iter(data)
        start_step, started = int(self.step), time.perf_counter()
        if start_step == 0:
            self.log_real(next(iter(data)))
            self.log_generated()
        metrics = {}
        interrupted = []
        previous = {
            s: signal.signal(s, lambda *_: interrupted.append(True))
            for s in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            while int(self.step) < c.iterations and not interrupted:
                metrics = {k: float(v) for k, v in self._train_step(iterator).items()}
                bad = [k for k, v in metrics.items() if not np.isfinite(v)]
                if bad:
                    raise FloatingPointError(
                        f"{bad[0]} became {metrics[bad[0]]} at step "
                        f"{int(self.step) + 1}; try a lower learning rate"
                    )
                self.step.assign_add(1)
                step = int(self.step)
                with self.writer.as_default():
                    for name, value in metrics.items():
                        tf.summary.scalar(name, value, step=step)
                if step % c.summary_every == 0:
                    self.log_generated()
                if step % self.progress_every == 0 or step == c.iterations:
                    self._print_progress(step, start_step, started, metrics)
                if step % c.ckpt_every == 0:
                    self.manager.save(checkpoint_number=step)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        step = int(self.step)
        if interrupted:
            self.manager.save(checkpoint_number=step)
            self.writer.flush()
            print(f"interrupted at step {step}: checkpoint saved; continue with --resume")
            raise KeyboardInterrupt
        if step % c.summary_every != 0:
            self.log_generated()
        if (
            self.manager.latest_checkpoint is None
            or step != start_step
            and step % c.ckpt_every != 0
        ):
            self.manager.save(checkpoint_number=step)
        self.writer.flush()
        path = self.save_generator()
        print(
            f"finished {step} steps; generator: {path}; "
            f"TensorBoard: tensorboard --logdir {self.tb_dir}",
            flush=True,
        )
        return metrics

    def _print_progress(self, step, start_step, started, metrics):
        done = step - start_step
        elapsed = time.perf_counter() - started
        per_second = done / elapsed if elapsed > 0 else float("nan")
        eta = (self.config.iterations - step) / per_second if per_second > 0 else 0.0
        print(
            f"step {step}/{self.config.iterations} d_loss {metrics['d_loss']:.4f} "
            f"g_loss {metrics['g_loss']:.4f} wasserstein {metrics['wasserstein']:.4f} "
            f"gp {metrics['gradient_penalty']:.4f} | {per_second:.2f} steps/s, ETA {_duration(eta)}",
            flush=True,
        )
