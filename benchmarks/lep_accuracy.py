"""Test accuracy with and without seed 003's Label Embeddings Projection, at the same budget.

Run:  .venv/bin/python benchmarks/lep_accuracy.py [--word_vectors FILE] [--lep_weight 0.5]
      [--steps 120] [--batch 18] [--seeds 0,1,2] [--architecture slowfast] [--width 0.25]
      [--blocks 1,1] [--learning_rate 0.003] [--data PACKED.npz] [--json PATH]

For each seed, two runs of train.py's Trainer that differ only in the loss: cross-entropy
(lep_weight 0) and (1 - L) cross-entropy + L MSE(projection(logits), class-name embedding). Same
architecture, initial weights (same seed), batches (same balanced tf.data stream), steps, batch size
and learning rate (Adam, constant). Accuracy is the final model's (batch norm recalibrated as
train.py does at the end) on the whole test split; the table gives each seed's figure and the
mean +- sample standard deviation over seeds.

Data: --data, else a synthetic UrbanSound8K stand-in (tfam.data.urbansound.synthesize_packed, 40
train / 10 validate / 20 test clips of each of the 9 classes, 4 s at 8 kHz).
Word vectors: --word_vectors (e.g. real GloVe vectors written by datatools/class_embeddings.py), else
a clearly labelled stand-in: random Gaussian 50-d vectors per word, which carry no meaning (LEP then
only adds a regression onto arbitrary, well-separated class targets).
"""

import argparse
import os
import shlex
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402

from tfam.data import urbansound as us  # noqa: E402
from tfam.train import lep  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--word_vectors", help="GloVe text / .npz / .npy (default: a random stand-in)"
    )
    parser.add_argument("--lep_weight", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--batch", type=int, default=18)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--architecture", default="slowfast")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--blocks", default="1,1", help="slowfast: blocks per stage")
    parser.add_argument("--learning_rate", type=float, default=0.003)
    parser.add_argument("--data", help="a packed UrbanSound8K .npz (default: a synthetic stand-in)")
    parser.add_argument("--json", help="also write the results here")
    return parser.parse_args()


def stand_in_vectors(class_names, path, dim=50, seed=0):
    rng = np.random.default_rng(seed)
    words = sorted({w for c in class_names for w in lep.words_of(c)})
    lep.write_glove(path, {w: rng.normal(size=dim) for w in words})


def run(args, splits, class_names, seed, lep_weight, word_vectors, workdir):
    import keras

    from tfam.train.classifier import TrainConfig, Trainer, predict_logits

    keras.backend.clear_session()
    blocks = (
        tuple(int(b) for b in args.blocks.split(",")) if args.architecture == "slowfast" else ()
    )
    config = TrainConfig(
        iterations=args.steps,
        batch_size=args.batch,
        logdir=os.path.join(workdir, f"s{seed}-l{lep_weight}"),
        architecture=args.architecture,
        width=args.width,
        blocks=blocks,
        learning_rate=args.learning_rate,
        schedule="constant",
        val_every=10**9,
        ckpt_every=10**9,
        seed=seed,
        n_classes=len(class_names),
        class_names=tuple(class_names),
        lep_weight=lep_weight,
        word_vectors=word_vectors if lep_weight else "",
    )
    started = time.perf_counter()
    trainer = Trainer(config, splits, progress_every=10**9)
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.train()
    x, y = splits["test"]
    accuracy = float(np.mean(predict_logits(trainer.model, x, config.frontend).argmax(-1) == y))
    seconds = time.perf_counter() - started
    print(
        f"  seed {seed}, lep_weight {lep_weight:g}: test accuracy {accuracy:.3f} ({seconds:.0f} s)",
        flush=True,
    )
    return accuracy


def mean_spread(values):
    values = np.asarray(values)
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.3f} ± {spread:.3f}"


def main():
    args = parse_args()
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()  # the same figures on every run of a command
    tf.get_logger().setLevel("ERROR")  # predict_logits traces once per model: no retracing warnings
    seeds = [int(s) for s in args.seeds.split(",")]
    workdir = tempfile.mkdtemp(prefix="lep_accuracy-")
    if args.data:
        data, data_label = args.data, args.data
    else:
        data = os.path.join(workdir, "urbansound.npz")
        us.synthesize_packed(data, clips_per_class=(40, 10, 20), seed=0)
        data_label = "synthetic UrbanSound8K stand-in (synthesize_packed, 40/10/20 clips per class)"
    splits, class_names = us.load_packed(data)
    if args.word_vectors:
        vectors, vectors_label = args.word_vectors, f"{os.path.basename(args.word_vectors)}"
    else:
        vectors = os.path.join(workdir, "stand_in.txt")
        stand_in_vectors(class_names, vectors)
        vectors_label = "STAND-IN: random Gaussian 50-d word vectors (no meaning)"
    dim = lep.class_embeddings(class_names, vectors).shape[1]
    command = " ".join(
        shlex.quote(a) for a in [".venv/bin/python", "benchmarks/lep_accuracy.py", *sys.argv[1:]]
    )
    print(
        f"data: {data_label}; word vectors: {vectors_label} ({dim}-d); {args.architecture} "
        f"width {args.width} blocks {args.blocks}; {args.steps} steps of {args.batch}; seeds {seeds}"
    )

    results = {0.0: [], args.lep_weight: []}
    for seed in seeds:
        for weight in results:
            results[weight].append(run(args, splits, class_names, seed, weight, vectors, workdir))

    print()
    print("| loss | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± sd |")
    print("|---|" + "---|" * len(seeds) + "---|")
    for weight, accuracies in results.items():
        name = "cross-entropy" if weight == 0 else f"LEP, λ = {weight:g}"
        print(
            f"| {name} | "
            + " | ".join(f"{a:.3f}" for a in accuracies)
            + f" | {mean_spread(accuracies)} |"
        )
    print()
    print(
        f"Test accuracy on {len(splits['test'][1])} clips; {data_label}; word vectors: {vectors_label}."
    )
    print(f"Command: {command}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "command": command,
                    "data": data_label,
                    "word_vectors": vectors_label,
                    "seeds": seeds,
                    "accuracy": {str(k): v for k, v in results.items()},
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
