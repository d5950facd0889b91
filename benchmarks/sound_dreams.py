"""Dreamed sounds: what tfam.audio.sound_dreams.dream_sounds costs per class on CPU, and whether a sound
dreamed with one model is heard as the same class by a model of another architecture.

Run:  .venv/bin/python benchmarks/sound_dreams.py [--steps 300] [--train-steps 300] [--width 0.25]
      [--seed 0] [--recipe KEY=VALUE ...] [--no-single] [--keep DIR | --reuse DIR] [--json PATH]

Data: a synthetic packed UrbanSound8K (tfam.data.urbansound.synthesize_packed; --clips, default 40
train / 8 validate / 8 test clips per class, 9 classes) in a temporary directory.

Models, both trained with tfam.train.classifier.Trainer (train.py's loop) on a temporary logdir, waveform
front end, balanced batches, schedule "constant", one checkpoint at the end; the final weights are
used (not best.keras):
- the dreaming ("seed") model: seed 002's CNN (architecture "seed") at --width, Adam --seed-lr;
- the second model: the "timepool" CNN (conv + batch norm, mean over time) at --timepool-width,
  Adam --timepool-lr, another random seed: independently trained, a different architecture.
Training takes minutes; --keep DIR saves both as DIR/seed.keras and DIR/timepool.keras (with
DIR/models.json), and --reuse DIR loads them instead of training.

(a) Time per class: ``dream_sounds(model, range(9), steps=S)`` (all nine classes in one batched run)
against nine calls ``dream_sounds(model, [c], steps=S)``, one class each, with the seed model. The
classes are data fed to one compiled loop, so only the first call of each batch size traces; the
wall time includes that tracing, as a user's first call does; the steady per-step time leaves out
the first chunk of steps (max(50, steps / 10) steps: where tracing happens), timed by a
dream_sounds callback that runs after every chunk.

(b) Transferability: the batched dreams of (a) are classified by the dreaming model itself and by the
second model (softmax of the logits, inference mode, the final waveform ``Result.x``). Per class:
the dreaming model's probability of the target, the second model's probability of the target and its
top class; and the share of the nine dreams whose top class under the second model is the target
(target: at least 8 of 9). Then the reverse direction: dream with the timepool model, classify
with the seed model. --recipe KEY=VALUE changes a setting of the dream recipe (audio_recipe) for
every dream, to compare recipes on the same models (with --reuse).
"""

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfam.cli.common import import_tensorflow_quietly  # noqa: E402
from tfam.data import urbansound as us  # noqa: E402

import_tensorflow_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")

from tfam.audio.sound_dreams import dream_sounds  # noqa: E402
from tfam.models.loading import load_model  # noqa: E402
from tfam.outputs import write_json  # noqa: E402
from tfam.train.classifier import TrainConfig, Trainer, predict_logits  # noqa: E402

FRONTEND = "waveform"
SAMPLE_RATE = us.SAMPLE_RATE
TRANSFER_TARGET = 8  # of 9 dreams recognized by the other model
RECIPE_KEYS = (
    "learning_rate",
    "max_shift_seconds",
    "tv",
    "max_rms",
    "low_pass",
    "high_band_weight",
    "cutoff_hz",
    "gain_db",
    "start_rms",
    "noise_snr_db",
    "tilt_db",
    "resample",
)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="dream steps")
    p.add_argument("--train-steps", type=int, default=300, help="training steps of each model")
    p.add_argument("--train-batch", type=int, default=45, help="training batch (5 clips a class)")
    p.add_argument(
        "--width", type=float, default=0.25, help="width of the seed CNN (the dreaming model)"
    )
    p.add_argument("--timepool-width", type=float, default=1.0, help="width of the timepool CNN")
    p.add_argument("--seed-lr", type=float, default=0.001, help="Adam rate for the seed CNN")
    p.add_argument(
        "--timepool-lr", type=float, default=0.003, help="Adam rate for the timepool CNN"
    )
    p.add_argument(
        "--clips",
        type=int,
        nargs=3,
        default=[40, 8, 8],
        metavar=("TRAIN", "VALIDATE", "TEST"),
        help="synthetic clips per class and split",
    )
    p.add_argument("--seed", type=int, default=0, help="data, training and dream seed")
    p.add_argument(
        "--recipe",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dream_sounds recipe setting (tfam.audio.sound_dreams.audio_recipe), e.g. tv=0.2 "
        "or learning_rate=0.003; repeat for more",
    )
    p.add_argument("--no-single", action="store_true", help="skip the one-class-at-a-time timing")
    p.add_argument(
        "--keep", default=None, metavar="DIR", help="save the trained models here (.keras)"
    )
    p.add_argument(
        "--reuse", default=None, metavar="DIR", help="load the models saved by --keep DIR"
    )
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = p.parse_args()
    if args.keep and args.reuse:
        p.error("--keep and --reuse exclude each other")
    if min(args.steps, args.train_steps, args.train_batch) < 1 or min(args.clips) < 1:
        p.error("--steps, --train-steps, --train-batch and --clips must be at least 1")
    recipe = {}
    for item in args.recipe:
        key, _, value = item.partition("=")
        if key not in RECIPE_KEYS or not value:
            p.error(f"--recipe {item}: expected KEY=VALUE with KEY one of {', '.join(RECIPE_KEYS)}")
        try:
            recipe[key] = float(value)
        except ValueError:
            p.error(f"--recipe {item}: {value!r} is not a number")
    args.recipe = recipe
    return args


def say(text):
    print(text, flush=True)


def softmax(logits):
    return tf.nn.softmax(logits).numpy()


def test_accuracy(model, splits):
    x, y = splits["test"]
    return float(np.mean(predict_logits(model, x, FRONTEND).argmax(-1) == y))


def train(name, architecture, width, learning_rate, seed, args, splits, class_names, workdir):
    config = TrainConfig(
        iterations=args.train_steps,
        batch_size=args.train_batch,
        logdir=os.path.join(workdir, name),
        architecture=architecture,
        frontend=FRONTEND,
        width=width,
        learning_rate=learning_rate,
        schedule="constant",
        ckpt_every=args.train_steps,
        seed=seed,
        n_classes=len(class_names),
        class_names=tuple(class_names),
    )
    trainer = Trainer(config, splits, progress_every=50)
    say(
        f"training the {name} model ({architecture}, width {width:g}, "
        f"{trainer.model.count_params():,} weights): {args.train_steps} steps, batch "
        f"{args.train_batch}, Adam {learning_rate:g}, constant rate"
    )
    started = time.perf_counter()
    trainer.train()
    return trainer.model, time.perf_counter() - started


def get_models(args, splits, class_names, workdir):
    specs = {
        "seed": ("seed", args.width, args.seed_lr, args.seed),
        "timepool": ("timepool", args.timepool_width, args.timepool_lr, args.seed + 1),
    }
    if args.reuse:
        with open(os.path.join(args.reuse, "models.json"), encoding="utf-8") as f:
            info = json.load(f)
        models = {}
        for name, (_architecture, width, rate, _seed) in specs.items():
            path, saved = os.path.join(args.reuse, f"{name}.keras"), info[name]
            say(
                f"loading the {name} model from {path} ({saved['architecture']}, width {saved['width']:g}, "
                f"{saved['train_steps']} steps, batch {saved['train_batch']}, Adam {saved['learning_rate']:g}, "
                f"clips {'/'.join(map(str, saved['clips']))}, data seed {saved['data_seed']})"
            )
            if (
                saved["width"],
                saved["learning_rate"],
                saved["train_steps"],
                saved["data_seed"],
            ) != (width, rate, args.train_steps, args.seed):
                say(
                    "    note: trained with other settings than this command's; the saved model is used"
                )
            models[name] = load_model(path)
        return models, info
    models, info = {}, {}
    for name, (architecture, width, rate, seed) in specs.items():
        models[name], seconds = train(
            name, architecture, width, rate, seed, args, splits, class_names, workdir
        )
        info[name] = dict(
            architecture=architecture,
            width=width,
            learning_rate=rate,
            seed=seed,
            train_steps=args.train_steps,
            train_batch=args.train_batch,
            clips=list(args.clips),
            data_seed=args.seed,
            weights=models[name].count_params(),
            train_seconds=round(seconds, 1),
        )
        say(f"trained the {name} model in {seconds:.0f}s")
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        for name, model in models.items():
            model.save(os.path.join(args.keep, f"{name}.keras"))
        write_json(os.path.join(args.keep, "models.json"), info)
        say(f"saved both models in {args.keep} (rerun with --reuse {args.keep})")
    return models, info


class ChunkTimes:
    """dream_sounds callback: when each chunk of steps ended."""

    def __init__(self):
        self.ends = []  # (step, perf_counter)

    def __call__(self, progress):
        self.ends.append((progress.step, time.perf_counter()))

    def steady(self):
        """Seconds per step after the first chunk (tracing), or None with a single chunk."""
        if len(self.ends) < 2:
            return None
        (s0, t0), (s1, t1) = self.ends[0], self.ends[-1]
        return (t1 - t0) / (s1 - s0)


def timed_dream(model, classes, args):
    chunks = ChunkTimes()
    started = time.perf_counter()
    result = dream_sounds(
        model,
        classes,
        sample_rate=SAMPLE_RATE,
        steps=args.steps,
        seed=args.seed,
        callbacks=[chunks],
        **args.recipe,
    )
    return result, time.perf_counter() - started, chunks.steady()


def time_dreams(model, class_names, args):
    n = len(class_names)
    recipe = ", ".join(f"{k}={v:g}" for k, v in args.recipe.items()) or "defaults"
    say(
        f"\n(a) dreaming all {n} classes in one batched run, {args.steps} steps, recipe {recipe} ..."
    )
    batched, wall, steady = timed_dream(model, range(n), args)
    figures = dict(
        batched=dict(
            wall_seconds=wall,
            seconds_per_class=wall / n,
            steady_ms_per_step=None if steady is None else 1000 * steady,
            steady_seconds_per_class=None if steady is None else steady * args.steps / n,
        )
    )
    say(f"    {wall:.1f}s")
    if not args.no_single:
        walls, steadies = [], []
        for c, name in enumerate(class_names):
            _, wall_c, steady_c = timed_dream(model, [c], args)
            walls.append(wall_c)
            steadies.append(steady_c)
            say(f"    one class at a time: {c + 1}/{n} {name} {wall_c:.1f}s")
        steady_ok = all(s is not None for s in steadies)
        figures["single"] = dict(
            wall_seconds=walls,
            seconds_per_class=float(np.mean(walls)),
            steady_ms_per_step=1000 * float(np.mean(steadies)) if steady_ok else None,
            steady_seconds_per_class=float(np.mean(steadies)) * args.steps if steady_ok else None,
        )
    say(
        f"\ndream time per class, {args.steps} steps, seed model ({model.count_params():,} weights), "
        f"{os.cpu_count()} CPU cores"
    )
    header = f"{'mode':<26}{'s/class':>9}{'s/class steady':>16}{'ms/step steady':>16}{'wall s':>9}"
    say(header)
    say("-" * len(header))
    labels = {"batched": f"batched ({n} in one run)", "single": "one class at a time"}
    for mode, f in figures.items():
        steady_class = (
            f"{f['steady_seconds_per_class']:.2f}" if f["steady_seconds_per_class"] else "-"
        )
        steady_step = f"{f['steady_ms_per_step']:.1f}" if f["steady_ms_per_step"] else "-"
        wall = f["wall_seconds"] if mode == "batched" else sum(f["wall_seconds"])
        say(
            f"{labels[mode]:<26}{f['seconds_per_class']:>9.2f}{steady_class:>16}{steady_step:>16}{wall:>9.1f}"
        )
    if "single" in figures:
        say(
            f"batched is {figures['single']['seconds_per_class'] / figures['batched']['seconds_per_class']:.1f}x "
            "faster per class (wall, tracing included)"
        )
    return batched, figures


def transfer(dreamer_name, other_name, x, models, class_names):
    """Per-class probabilities of the dreams x (one row per class) under both models."""
    own = softmax(predict_logits(models[dreamer_name], x, FRONTEND))
    other = softmax(predict_logits(models[other_name], x, FRONTEND))
    n = len(class_names)
    rows = []
    for c in range(n):
        top = int(other[c].argmax())
        rows.append(
            dict(
                target=class_names[c],
                own_probability=float(own[c, c]),
                other_probability=float(other[c, c]),
                other_top=class_names[top],
                other_top_probability=float(other[c, top]),
                own_top=class_names[int(own[c].argmax())],
            )
        )
    hits = sum(r["other_top"] == r["target"] for r in rows)
    say(f"\ndreamed with the {dreamer_name} model, classified by the {other_name} model")
    header = (
        f"{'target class':<18}{'p ' + dreamer_name:>12}{'p ' + other_name:>12}   "
        f"{other_name + ' top class (p)':<30}"
    )
    say(header)
    say("-" * len(header))
    for r in rows:
        mark = "" if r["other_top"] == r["target"] else "  <- miss"
        top = f"{r['other_top']} ({r['other_top_probability']:.3f})"
        say(
            f"{r['target']:<18}{r['own_probability']:>12.3f}{r['other_probability']:>12.3f}   "
            f"{top:<30}{mark}"
        )
    own_hits = sum(r["own_top"] == r["target"] for r in rows)
    say(
        f"transfer: the {other_name} model hears the target in {hits}/{n} dreams (target >= "
        f"{TRANSFER_TARGET}/{n}: {'met' if hits >= TRANSFER_TARGET else 'NOT met'}); the {dreamer_name} "
        f"model itself in {own_hits}/{n}; mean p(target) {np.mean([r['own_probability'] for r in rows]):.3f} "
        f"-> {np.mean([r['other_probability'] for r in rows]):.3f}"
    )
    return dict(
        dreamer=dreamer_name, classifier=other_name, hits=hits, own_hits=own_hits, classes=rows
    )


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="tfam-sound-dreams-") as workdir:
        benchmark(args, workdir)


def benchmark(args, workdir):
    started = time.perf_counter()
    path = os.path.join(workdir, "urbansound.npz")
    clips = (0, 0, args.clips[2]) if args.reuse else tuple(args.clips)  # reuse: only the test split
    say(
        f"synthesizing the data ({', '.join(map(str, clips))} clips per class for train, validate, test) ..."
    )
    us.synthesize_packed(path, clips_per_class=clips, seed=args.seed)
    splits, class_names = us.load_packed(path)
    say(f"    {time.perf_counter() - started:.0f}s")
    models, info = get_models(args, splits, class_names, workdir)
    accuracy = {name: test_accuracy(model, splits) for name, model in models.items()}
    say(
        "test accuracy ("
        + f"{len(splits['test'][1])} clips): "
        + ", ".join(f"{name} {a:.3f}" for name, a in accuracy.items())
    )

    batched, timing = time_dreams(models["seed"], class_names, args)
    forward = transfer("seed", "timepool", batched.x, models, class_names)

    say(
        f"\ndreaming all {len(class_names)} classes with the timepool model, {args.steps} steps ..."
    )
    reverse_result, reverse_wall, reverse_steady = timed_dream(
        models["timepool"], range(len(class_names)), args
    )
    say(f"    {reverse_wall:.1f}s")
    reverse = transfer("timepool", "seed", reverse_result.x, models, class_names)
    total = time.perf_counter() - started
    say(f"\ntotal {total:.0f}s")

    if args.json:
        write_json(
            args.json,
            dict(
                steps=args.steps,
                seed=args.seed,
                recipe=args.recipe,
                clips=list(args.clips),
                models=info,
                test_accuracy=accuracy,
                dream_time=timing,
                timepool_batched=dict(
                    wall_seconds=reverse_wall,
                    steady_ms_per_step=None if reverse_steady is None else 1000 * reverse_steady,
                ),
                transfer=[forward, reverse],
                tensorflow=tf.__version__,
                keras=keras.__version__,
                cpu_cores=os.cpu_count(),
                total_seconds=total,
            ),
        )
        say(f"wrote {args.json}")


if __name__ == "__main__":
    main()
