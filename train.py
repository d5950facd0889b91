"""Train seed 002's UrbanSound8K CNN:  python3 train.py [iterations [batch_size [path]]]

(and, with --dataset emotion --architecture emotion_mel|emotion_raw, seed 000's speech-emotion
classifiers on a set packed by datatools/prepare_emotion.py; on either dataset, --architecture
slowfast is seed 003's slow/fast audio CNN on the seed's log-mel, and --lep_weight L --word_vectors
FILE trains any of them with seed 003's Label Embeddings Projection loss)

Positional arguments and defaults as in the seed (5000, 100, ./UrbanSound8K_modified/urbansound.pkl;
a packed urbansound.npz beside the .pkl is used instead, and the pickle itself only with
--allow_pickle). Everything else is an absl flag (python3 train.py --help). Writes checkpoints,
best.keras and model.keras to LOGDIR/model and TensorBoard logs to LOGDIR/tensorboard; Ctrl-C saves
a checkpoint, and --resume continues from the last one.
"""

import os
import sys

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import app, flags

from tfam.cli.common import fail, import_tensorflow_quietly, parse_absl_flags, run_guarded
from tfam.data.urbansound import DEFAULT_PATH
from tfam.train.strategy import STRATEGIES

flags.DEFINE_enum(
    "dataset",
    "urbansound",
    ["urbansound", "emotion"],
    "urbansound: seed 002's packed UrbanSound8K; emotion: seed 000's packed TESS/RAVDESS "
    "(path required)",
)
flags.DEFINE_string("logdir", "logs", "where model/ (checkpoints, .keras) and tensorboard/ go")
flags.DEFINE_enum(
    "frontend",
    "waveform",
    ["waveform", "spectrogram"],
    "model input: 4 s of 8 kHz audio (spectrogram inside the model, dreamable) or the "
    "seed's 129x13 spectrogram",
)
flags.DEFINE_enum(
    "architecture",
    None,
    ["seed002", "timepool", "emotion_mel", "emotion_raw", "slowfast", "seed"],
    "urbansound: seed002 (seed 002's four-conv CNN, the default; 'seed' is its old name) or timepool (a small conv + "
    "batch norm CNN that averages over time); emotion: emotion_mel (the default: seed 000's "
    "mel CNN on 160-frame crops) or emotion_raw (its WaveNet-style raw-audio CNN); either: "
    "slowfast (seed 003's slow/fast audio CNN on the seed's log-mel, computed inside)",
)
flags.DEFINE_float(
    "width",
    1.0,
    "scale every conv and fc1 (1: the seed's 140 M-weight model); "
    "slowfast: scale its stem width of 64",
)
flags.DEFINE_list(
    "blocks",
    None,
    "slowfast: blocks per ResNet stage, e.g. 1,1 (default 3,4,6,3: the seed's ResNet-50); "
    "emotion_raw: stacks of dilated layers 1..512, e.g. 1 (default 2: the seed's)",
)
flags.DEFINE_float(
    "lep_weight",
    0.0,
    "Label Embeddings Projection weight L in [0, 1]: loss = (1 - L) "
    "cross-entropy + L MSE(projected logits, class-name embedding)",
)
flags.DEFINE_string(
    "word_vectors",
    None,
    "word vectors for --lep_weight > 0: GloVe text (word v1 v2 ... "
    "per line), .npz (arrays words, vectors) or .npy (one row per "
    "class, in class order)",
)
flags.DEFINE_float("learning_rate", 0.01, "Adam learning rate (the seed's 0.01)")
flags.DEFINE_enum(
    "schedule",
    "accuracy_drop",
    ["accuracy_drop", "constant", "seed"],
    "accuracy_drop (seed 002's; 'seed' is its old name): drop to --low_learning_rate once the mean "
    "of the last --drop_window training accuracies exceeds --drop_accuracy; constant: never drop",
)
flags.DEFINE_float("low_learning_rate", 0.0001, "learning rate after the drop")
flags.DEFINE_float("drop_accuracy", 0.7, "training accuracy that triggers the drop")
flags.DEFINE_integer("drop_window", 200, "how many recent steps' accuracies are averaged")
flags.DEFINE_integer("val_every", 10, "steps between validation batches")
flags.DEFINE_integer("ckpt_every", 500, "steps between checkpoints (and full validation)")
flags.DEFINE_integer("progress_every", 10, "steps between progress lines")
flags.DEFINE_integer("seed", 0, "random seed")
flags.DEFINE_enum(
    "precision",
    "float32",
    ["float32", "mixed_bfloat16"],
    "mixed_bfloat16: compute in bfloat16 (float32 weights); 1.7-2.1x faster training on a CPU "
    "with AVX-512 BF16, same accuracy (README)",
)
flags.DEFINE_enum(
    "strategy",
    "default",
    list(STRATEGIES),
    "tf.distribute strategy (multiworker reads the cluster from TF_CONFIG)",
)
flags.DEFINE_integer(
    "cpu_devices",
    0,
    "split the CPU into this many logical devices (for mirrored training on one machine)",
)
flags.DEFINE_boolean("resume", False, "continue the run in --logdir from its last checkpoint")
flags.DEFINE_boolean(
    "overwrite", False, "start again, deleting the checkpoints of a run in --logdir"
)
flags.DEFINE_boolean("allow_pickle", False, "load the seed's urbansound.pkl (pickle can run code)")
FLAGS = flags.FLAGS


def positional(argv):
    """iterations, batch_size, path: the seed's sys.argv usage, each optional."""
    if len(argv) > 4:
        fail("usage: train.py [iterations [batch_size [path]]] [--flags]")
    values = [5000, 100, DEFAULT_PATH]
    for i, (name, text) in enumerate(zip(("iterations", "batch_size"), argv[1:3])):
        try:
            values[i] = int(text)
        except ValueError:
            fail(f"{name} must be a whole number, got '{text}'")
        if values[i] < 1:
            fail(f"{name} must be at least 1, got {values[i]}")
    if len(argv) == 4:
        values[2] = argv[3]
    return values


def load(path, batch_size):
    """Check the flags and read the dataset before TensorFlow starts: bad input fails fast."""
    from tfam.data.urbansound import load_dataset

    for name in ("val_every", "ckpt_every", "progress_every", "drop_window"):
        if getattr(FLAGS, name) < 1:
            raise ValueError(f"--{name} must be at least 1")
    if FLAGS.width <= 0 or FLAGS.learning_rate <= 0:
        raise ValueError("--width and --learning_rate must be positive")
    if FLAGS.dataset == "emotion":
        from tfam.data import emotion

        if path == DEFAULT_PATH:
            raise ValueError(
                "--dataset emotion needs the path of a packed set: python3 train.py "
                f"ITERATIONS BATCH PATH.npz --dataset emotion ({emotion.BUILD_HINT})"
            )
        splits, class_names = emotion.load_packed(path)
    else:
        splits, class_names = load_dataset(path, allow_pickle=FLAGS.allow_pickle)
    architecture = architecture_of(FLAGS.dataset, FLAGS.architecture)
    blocks = blocks_of(architecture, FLAGS.blocks)
    embeddings = embeddings_of(class_names, FLAGS.lep_weight, FLAGS.word_vectors)
    if len(splits["train"][1]) == 0:
        raise ValueError(f"{path} has no training clips")
    if batch_size < len(class_names):
        raise ValueError(
            f"batch size {batch_size} is below the number of classes ({len(class_names)}): "
            "balanced batches need at least one clip per class"
        )
    print(
        f"dataset {path}: "
        + ", ".join(f"{len(y)} {s}" for s, (_, y) in splits.items())
        + f" clips, {len(class_names)} classes"
    )
    return splits, class_names, architecture, blocks, embeddings


def architecture_of(dataset, architecture):
    emotion = (
        architecture in (None, "emotion_mel", "emotion_raw", "slowfast")
        if dataset == "emotion"
        else architecture in (None, "seed002", "seed", "timepool", "slowfast")
    )
    if not emotion:
        raise ValueError(f"--architecture {architecture} does not fit --dataset {dataset}")
    return architecture or ("emotion_mel" if dataset == "emotion" else "seed002")


def blocks_of(architecture, blocks):
    """--blocks as a tuple of whole numbers >= 1 (empty: the architecture's default)."""
    if not blocks:
        return ()
    if architecture not in ("slowfast", "emotion_raw"):
        raise ValueError("--blocks applies to --architecture slowfast and emotion_raw only")
    try:
        values = tuple(int(b) for b in blocks)
    except ValueError:
        raise ValueError(
            f"--blocks must be whole numbers separated by commas, got {','.join(blocks)}"
        ) from None
    if min(values) < 1:
        raise ValueError(f"--blocks must be at least 1 each, got {','.join(blocks)}")
    return values


def embeddings_of(class_names, weight, word_vectors):
    """The LEP class embeddings (read before TensorFlow starts, so a bad file fails fast), or None."""
    from tfam.train import lep

    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"--lep_weight must be between 0 and 1, got {weight:g}")
    if weight == 0:
        if word_vectors:
            print("note: --word_vectors is not used with --lep_weight 0")
        return None
    if not word_vectors:
        raise ValueError(
            "--lep_weight above 0 needs --word_vectors (a GloVe text, .npz or .npy file)"
        )
    embeddings = lep.class_embeddings(class_names, word_vectors)
    print(
        f"LEP: weight {weight:g}, {embeddings.shape[1]}-dimensional class embeddings from {word_vectors}"
    )
    return embeddings


def run(iterations, batch_size, splits, class_names, architecture, blocks, embeddings):
    from tfam.train.classifier import TrainConfig, Trainer, input_settings

    frontend, crop = input_settings(architecture, FLAGS.frontend)
    sample_rate = 22050 if FLAGS.dataset == "emotion" else 8000

    config = TrainConfig(
        iterations=iterations,
        batch_size=batch_size,
        logdir=FLAGS.logdir,
        architecture=architecture,
        frontend=frontend,
        crop=crop,
        sample_rate=sample_rate,
        width=FLAGS.width,
        blocks=blocks,
        learning_rate=FLAGS.learning_rate,
        schedule=FLAGS.schedule,
        low_learning_rate=FLAGS.low_learning_rate,
        drop_accuracy=FLAGS.drop_accuracy,
        drop_window=FLAGS.drop_window,
        val_every=FLAGS.val_every,
        ckpt_every=FLAGS.ckpt_every,
        seed=FLAGS.seed,
        strategy=FLAGS.strategy,
        n_classes=len(class_names),
        class_names=tuple(class_names),
        lep_weight=FLAGS.lep_weight if embeddings is not None else 0.0,
        word_vectors=os.path.abspath(FLAGS.word_vectors) if embeddings is not None else "",
        precision=FLAGS.precision,
    )
    trainer = Trainer(
        config,
        splits,
        resume=FLAGS.resume,
        overwrite=FLAGS.overwrite,
        progress_every=FLAGS.progress_every,
        embeddings=embeddings,
    )
    print(
        f"training {trainer.model.name} ({trainer.model.count_params():,} weights) for "
        f"{iterations} steps, batches of {batch_size // len(class_names)} per class, "
        f"{trainer.strategy.num_replicas_in_sync} replica(s)"
    )
    trainer.train()


def main(argv):
    iterations, batch_size, path = positional(argv)
    loaded = run_guarded(load, path, batch_size)
    import_tensorflow_quietly(FLAGS.cpu_devices, FLAGS.strategy)
    run_guarded(run, iterations, batch_size, *loaded)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_absl_flags)
