"""Train a GAN prior with WGAN-GP:  python3 train_gan.py ITERATIONS DATA.npz --kind wavegan|mel

    python3 train_gan.py 20000 emotion.npz --kind wavegan --width 0.25 --sample_rate 22050
    python3 train_gan.py 20000 emotion.npz --kind mel --conditional
    python3 train_gan.py 20000 emotion.npz --kind mel --resume        # continue from the last checkpoint

ITERATIONS counts generator updates (each after --n_critic critic updates). DATA.npz holds
``train_audio`` (N, samples) int16 or float32 in [-1, 1] (the packed-dataset layout of
tfam/data/urbansound.py), or for --kind mel ``train_mels`` (N, n_mels, frames) scaled to [0, 1];
with --conditional also ``train_labels`` (N,) and optionally ``class_names``; optionally
``sample_rate``. Waveforms are cropped (or zero-padded) at a random place to --samples in every
batch, mels to --frames; --kind mel without train_mels computes them with tfam.audio.mel.LogMel.

Writes checkpoints, config.json and finally generator.keras + generator.json to LOGDIR/model and
TensorBoard logs (losses, generated audio, spectrograms, mels) to LOGDIR/tensorboard; Ctrl-C or
SIGTERM saves a checkpoint, and --resume continues the step count from it.
"""

import os
import sys

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import app, flags

from tfam.cli.common import fail, import_tensorflow_quietly, parse_absl_flags, run_guarded

flags.DEFINE_enum(
    "kind",
    "wavegan",
    ["wavegan", "mel"],
    "wavegan: raw waveforms (WaveGAN); mel: 80 x frames log-mels in [0, 1] (seed 000)",
)
flags.DEFINE_boolean(
    "conditional", False, "condition on train_labels (the generator then takes [z, label])"
)
flags.DEFINE_float(
    "width", 1.0, "scale every channel count (1: the papers' models; 1/16 trains on a CPU)"
)
flags.DEFINE_integer(
    "samples", 16384, "wavegan: generated length, 16 x 4^k (4096, 16384, 65536, ...)"
)
flags.DEFINE_integer("frames", 160, "mel: generated frames (a multiple of 16)")
flags.DEFINE_integer("batch", 64, "batch size")
flags.DEFINE_integer("n_critic", 5, "critic updates per generator update")
flags.DEFINE_float("learning_rate", 1e-4, "Adam learning rate of both networks (beta 0.5, 0.9)")
flags.DEFINE_float("gp_weight", 10.0, "gradient-penalty weight (lambda)")
flags.DEFINE_integer("latent_dim", 0, "latent size (0: 100 for wavegan, 512 for mel)")
flags.DEFINE_integer(
    "phase_shuffle", 2, "wavegan critic: phase shuffle of up to this many samples (0: off)"
)
flags.DEFINE_integer(
    "sample_rate",
    None,
    "sample rate of the audio (default: the npz's sample_rate, "
    "else 16000 for wavegan, 22050 (seed 000) for mel)",
)
flags.DEFINE_string(
    "logdir", "logs_gan", "where model/ (checkpoints, generator.keras) and tensorboard/ go"
)
flags.DEFINE_integer(
    "summary_every", 100, "steps between generated audio / pictures in TensorBoard"
)
flags.DEFINE_integer("ckpt_every", 500, "steps between checkpoints")
flags.DEFINE_integer("progress_every", 10, "steps between progress lines")
flags.DEFINE_integer("seed", 0, "random seed")
flags.DEFINE_boolean("resume", False, "continue the run in --logdir from its last checkpoint")
flags.DEFINE_boolean(
    "overwrite", False, "start again, deleting the checkpoints of a run in --logdir"
)
FLAGS = flags.FLAGS

DEFAULT_SAMPLE_RATE = {"wavegan": 16000, "mel": 22050}  # WaveGAN; seed 000's emotion clips


def positional(argv):
    if len(argv) != 3:
        fail("usage: train_gan.py ITERATIONS DATA.npz [--kind wavegan|mel] [--flags]")
    try:
        iterations = int(argv[1])
    except ValueError:
        fail(f"ITERATIONS must be a whole number, got '{argv[1]}'")
    if iterations < 1:
        fail(f"ITERATIONS must be at least 1, got {iterations}")
    return iterations, argv[2]


def check_flags():
    """The flags that need no data, checked before anything is read."""
    for name in ("batch", "n_critic", "summary_every", "ckpt_every", "progress_every"):
        if getattr(FLAGS, name) < 1:
            raise ValueError(f"--{name} must be at least 1")
    if FLAGS.width <= 0 or FLAGS.learning_rate <= 0:
        raise ValueError("--width and --learning_rate must be positive")
    valid = [16 * 4**k for k in range(1, 8)]
    if FLAGS.kind == "wavegan" and FLAGS.samples not in valid:  # (no keras import: TF would start)
        raise ValueError(
            f"--samples must be 16 x 4^k: {', '.join(map(str, valid[:6]))}, ...; "
            f"got {FLAGS.samples}"
        )
    if FLAGS.kind == "mel" and (FLAGS.frames < 16 or FLAGS.frames % 16):
        raise ValueError(f"--frames must be a multiple of 16, got {FLAGS.frames}")


def read_arrays(path):
    """Every array of a .npz, refusing pickled objects."""
    import numpy as np

    if not os.path.exists(path):
        raise FileNotFoundError(f"no data at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as error:  # not a zip, a pickled array, a truncated file ...
        raise ValueError(
            f"{path} is not a readable .npz file: {str(error).splitlines()[0]}"
        ) from None


def examples_of(arrays, path):
    """(float32 examples, are_mels): train_mels for a mel GAN when there, else train_audio."""
    import numpy as np

    use_mels = FLAGS.kind == "mel" and "train_mels" in arrays
    key = "train_mels" if use_mels else "train_audio"
    if key not in arrays:
        wanted = "train_audio (or train_mels)" if FLAGS.kind == "mel" else "train_audio"
        raise ValueError(
            f"{path} has no {wanted} array (it holds: {', '.join(sorted(arrays)) or 'nothing'})"
        )
    x = arrays[key]
    if use_mels:
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim != 3:
            raise ValueError(f"{path}: train_mels must be (N, n_mels, frames), got shape {x.shape}")
    elif x.ndim != 2:
        raise ValueError(f"{path}: train_audio must be (N, samples), got shape {x.shape}")
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    else:
        raise ValueError(f"{path}: {key} must be int16 or float, got {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{path}: {key} holds NaN or infinite values")
    if len(x) < FLAGS.batch:
        raise ValueError(
            f"{path} has {len(x)} training examples, fewer than the batch size "
            f"{FLAGS.batch}; use more data or a smaller --batch"
        )
    return x, use_mels


def labels_of(arrays, path, count):
    """(labels or None, class names): labels only for --conditional, checked against the names."""
    import numpy as np

    class_names = (
        [str(c) for c in np.atleast_1d(arrays["class_names"])] if "class_names" in arrays else []
    )
    if not FLAGS.conditional:
        return None, class_names
    if "train_labels" not in arrays:
        raise ValueError(f"--conditional needs train_labels in {path}")
    labels = arrays["train_labels"]
    if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{path}: train_labels {labels.shape} {labels.dtype} do not fit {count} "
            "examples (one integer class index each)"
        )
    if labels.min() < 0:
        raise ValueError(f"{path}: train_labels holds a negative class index")
    if not class_names:
        class_names = [str(i) for i in range(int(labels.max()) + 1)]
    if labels.max() >= len(class_names):
        raise ValueError(
            f"{path}: train_labels reach class {labels.max()}, but there are "
            f"{len(class_names)} class names"
        )
    counts = np.bincount(labels, minlength=len(class_names))
    print("classes: " + ", ".join(f"{n} {c}" for c, n in zip(class_names, counts)))
    return labels, class_names


def sample_rate_of(arrays):
    """--sample_rate, else the data's own, else the kind's default."""
    rate = FLAGS.sample_rate
    if rate is None:
        rate = (
            int(arrays["sample_rate"])
            if "sample_rate" in arrays
            else DEFAULT_SAMPLE_RATE[FLAGS.kind]
        )
    if rate < 1:
        raise ValueError(f"--sample_rate must be positive, got {rate}")
    return rate


def load(path):
    """Read and check DATA.npz before TensorFlow starts (numpy only): bad input fails fast.
    Returns (examples, labels or None, class_names, sample_rate, are_mels)."""
    check_flags()
    arrays = read_arrays(path)
    x, use_mels = examples_of(arrays, path)
    labels, class_names = labels_of(arrays, path, len(x))
    sample_rate = sample_rate_of(arrays)
    what = "mels" if use_mels else "waveforms"
    print(f"data {path}: {len(x)} {what} of shape {x.shape[1:]}, {sample_rate} Hz", flush=True)
    return x, labels, class_names, sample_rate, use_mels


def run(iterations, x, labels, class_names, sample_rate, are_mels):
    import numpy as np

    from tfam.train.gan import GanConfig, GanTrainer, waveforms_to_mels

    if FLAGS.kind == "mel" and not are_mels:
        print(
            f"computing log-mels of {len(x)} waveforms with tfam.audio.mel.LogMel ...", flush=True
        )
        x = waveforms_to_mels(x, sample_rate)
        if not np.all(np.isfinite(x)):
            raise ValueError("the computed mels hold NaN or infinite values")
        print(f"mels: {x.shape[1:]}", flush=True)
    config = GanConfig(
        kind=FLAGS.kind,
        iterations=iterations,
        batch_size=FLAGS.batch,
        n_critic=FLAGS.n_critic,
        gp_weight=FLAGS.gp_weight,
        learning_rate=FLAGS.learning_rate,
        latent_dim=FLAGS.latent_dim,
        width=FLAGS.width,
        samples=FLAGS.samples,
        n_mels=x.shape[1] if FLAGS.kind == "mel" else 80,
        frames=FLAGS.frames,
        phase_shuffle=FLAGS.phase_shuffle,
        sample_rate=sample_rate,
        n_classes=len(class_names) if FLAGS.conditional else 0,
        class_names=tuple(class_names) if FLAGS.conditional else (),
        logdir=FLAGS.logdir,
        summary_every=FLAGS.summary_every,
        ckpt_every=FLAGS.ckpt_every,
        seed=FLAGS.seed,
    )
    trainer = GanTrainer(
        config,
        x,
        labels,
        resume=FLAGS.resume,
        overwrite=FLAGS.overwrite,
        progress_every=FLAGS.progress_every,
    )
    conditional = f", conditional on {config.n_classes} classes" if config.conditional else ""
    print(
        f"training {trainer.generator.name} ({trainer.generator.count_params():,} weights) and "
        f"{trainer.discriminator.name} ({trainer.discriminator.count_params():,}){conditional} to "
        f"step {iterations}, batch {config.batch_size}, {config.n_critic} critic updates per step",
        flush=True,
    )
    trainer.train()


def main(argv):
    iterations, path = positional(argv)
    x, labels, class_names, sample_rate, are_mels = run_guarded(load, path)
    import_tensorflow_quietly()
    run_guarded(run, iterations, x, labels, class_names, sample_rate, are_mels)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_absl_flags)
