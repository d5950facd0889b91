"""Faithfulness of the attribution methods: does keeping the salient audio keep the prediction, and
does removing it hurt?

Run:  .venv/bin/python benchmarks/faithfulness.py [--architectures seed,timepool] [--train-steps 300]
      [--clips 24,4,8] [--threshold mean] [--methods saliency,gradcam,...] [--seed 0] [--json PATH]

Data: a synthetic packed UrbanSound8K (tfam.data.urbansound.synthesize_packed; --clips train,
validate, test clips per class, 9 classes) in a temporary directory.

Models: trained with tfam.train.classifier.Trainer (train.py's loop), waveform front end, balanced batches
of 45, Adam, schedule "constant", final weights: seed 002's CNN ("seed": flatten + dense head) at
width 0.25, the "timepool" CNN (batch norm, mean over time) at width 1, and (not by default) seed
003's slow/fast CNN ("slowfast": its log-mel inside, width 0.25, one block per stage, two stages).

For every model and method (--methods, default saliency, Grad-CAM, Grad-CAM++ and Score-CAM; any of
tfam.attribution.METHODS; with its default backend, layers and settings) the test clips are
explained for their true class, the maps thresholded (--threshold, default seed 003's mean) and
the clips' log-mel masked (tfam.audio.salient): "keep" is the Griffin-Lim audio of the salient
part, "remove" that of the rest, "resynth" the Griffin-Lim audio of the unmasked log-mel (what
vocoding alone costs). The table gives the mean probability of the true class on each, and the
share of clips with keep > remove.
"""

import argparse
import os
import shlex
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfam.cli.common import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")

from tfam import attribution as at  # noqa: E402
from tfam.audio import salient as sa  # noqa: E402
from tfam.data import urbansound as us  # noqa: E402
from tfam.outputs import write_json  # noqa: E402
from tfam.train.classifier import TrainConfig, Trainer  # noqa: E402

MODELS = {
    "seed": dict(width=0.25, learning_rate=0.001),
    "timepool": dict(width=1.0, learning_rate=0.003),
    "slowfast": dict(width=0.25, learning_rate=0.003, blocks=(1, 1)),
}
BATCH = 45


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--architectures", default="seed,timepool", help="comma-separated: seed, timepool, slowfast"
    )
    p.add_argument("--train-steps", type=int, default=300)
    p.add_argument("--clips", default="24,4,8", help="clips per class: train,validate,test")
    p.add_argument("--threshold", default="mean", help="mean, none, or a number in [0, 1]")
    p.add_argument(
        "--methods",
        default=",".join(at.KERAS_VIS_METHODS),
        help=f"comma-separated, of: {', '.join(at.METHODS)}",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p.parse_args()


def train(splits, class_names, architecture, steps, seed, logdir):
    settings = MODELS[architecture]
    config = TrainConfig(
        iterations=steps,
        batch_size=BATCH,
        logdir=logdir,
        architecture=architecture,
        frontend="waveform",
        width=settings["width"],
        blocks=settings.get("blocks", ()),
        learning_rate=settings["learning_rate"],
        schedule="constant",
        val_every=50,
        ckpt_every=steps,
        seed=seed,
        n_classes=len(class_names),
        class_names=tuple(class_names),
    )
    trainer = Trainer(config, splits, overwrite=True, progress_every=10**9)
    trainer.train()
    return trainer.model


def main():
    args = parse_args()
    threshold = args.threshold if args.threshold in ("mean", "none") else float(args.threshold)
    clips = tuple(int(c) for c in args.clips.split(","))
    architectures = [a.strip() for a in args.architectures.split(",") if a.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in at.METHODS]
    if unknown:
        sys.exit(f"unknown method '{unknown[0]}'; choose from {', '.join(at.METHODS)}")
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        packed = os.path.join(tmp, "urbansound.npz")
        class_names = us.synthesize_packed(packed, clips_per_class=clips, seed=args.seed)
        splits, class_names = us.load_packed(packed)
        x, y = splits["test"]
        print(
            f"data: synthetic UrbanSound8K, {clips} clips per class (train, validate, test), "
            f"{len(class_names)} classes; {len(x)} test clips"
        )
        for architecture in architectures:
            t0 = time.perf_counter()
            model = train(
                splits,
                class_names,
                architecture,
                args.train_steps,
                args.seed,
                os.path.join(tmp, architecture),
            )
            hear = sa.hearing(model)
            accuracy = float(np.mean(sa.probabilities(model, hear, x).argmax(axis=1) == y))
            print(
                f"[{architecture}] trained {args.train_steps} steps in {time.perf_counter() - t0:.0f} s; "
                f"test accuracy {accuracy:.3f}"
            )
            for method in methods:
                t0 = time.perf_counter()
                att = at.attribute(model, x, method, target=y)
                seconds = time.perf_counter() - t0
                p = sa.salient_audio(
                    model,
                    hear,
                    x,
                    att.maps,
                    att.targets,
                    threshold=threshold,
                    optimize=False,
                    seed=args.seed,
                ).probabilities
                row = {
                    "model": architecture,
                    "accuracy": accuracy,
                    "method": method,
                    "backend": att.backend,
                    "layers": list(att.layers),
                    "attribution_seconds": round(seconds, 2),
                    **{k: float(v.mean()) for k, v in p.items()},
                    "keep_gt_remove": float(np.mean(p["keep"] > p["remove"])),
                }
                rows.append(row)
                print(
                    f"[{architecture}] {method}: keep {row['keep']:.3f}, remove {row['remove']:.3f}, "
                    f"keep > remove in {row['keep_gt_remove']:.0%} ({seconds:.1f} s)"
                )

    command = " ".join(
        [".venv/bin/python", "benchmarks/faithfulness.py"] + [shlex.quote(a) for a in sys.argv[1:]]
    )
    print()
    print(
        f"`{command}` (threshold {threshold}; {len(x)} test clips; true class; "
        f"{time.perf_counter() - started:.0f} s in all)"
    )
    print()
    print(
        "| model (test accuracy) | method | computed by | p original | p resynth | p keep | p remove "
        "| keep > remove |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} ({r['accuracy']:.2f}) | {r['method']} | {r['backend']} | {r['original']:.3f} "
            f"| {r['resynth']:.3f} | {r['keep']:.3f} | {r['remove']:.3f} | {r['keep_gt_remove']:.0%} |"
        )
    if args.json:
        write_json(args.json, {"command": command, "threshold": threshold, "rows": rows})


if __name__ == "__main__":
    main()
