"""The steady-state cost of one sound-dream step against a bare compiled pass of the same model.

Run:  .venv/bin/python benchmarks/sound_step.py [--steps 100] [--repeats 7] [--width 0.25]
      [--rows 18] [--json PATH] [--only 2,4]

Model: seed 002's CNN (tfam.models.urbansound_cnn, waveform front end) at --width, 9 classes,
untrained and seeded (the cost of a step does not depend on the weights); input 4 s at 8 kHz.
Batch: --rows rows (18: nine classes, two restarts each, as ``dream_sounds`` runs them).

- bare: one tf.function of a tf.while_loop of forward + gradient of the summed target logits with
  respect to the waveform + an SGD update, on the linear-logits copy of the model that tfam scores:
  the floor of any compiled AM loop on this model and batch.
- tfam: a Dreamer with the sound recipe (tfam.audio.sound_dreams.audio_recipe, its defaults: the
  short-time spectrum, time shift, total variation, silence outside the heard span, a cutoff),
  the same recipe taken apart, one part added at a time, to show where the time goes, and the
  recipe of the samples (``param="direct"``: time shift, total variation, and the low-pass,
  loudness bound and silence as projections after every update).

Each contender runs --steps steps per call after one warm-up call (tracing and XLA compilation are
left out); contenders are interleaved, --repeats rounds; the table gives the median time per step
and the median over rounds of each contender's time over bare's in the same round.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfam.cli.common import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfam import objectives, params  # noqa: E402
from tfam.audio.heard import heard_span  # noqa: E402
from tfam.audio.sound_dreams import audio_recipe  # noqa: E402
from tfam.engine import Dreamer  # noqa: E402
from tfam.models.urbansound_cnn import urbansound_cnn  # noqa: E402
from tfam.outputs import write_json  # noqa: E402
from tfam.surgery import with_linear_logits  # noqa: E402

SAMPLE_RATE = 8000
SAMPLES = 4 * SAMPLE_RATE
CLASSES = 9


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--rows", type=int, default=18)
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    p.add_argument(
        "--only",
        default=None,
        help="comma-separated numbers of the recipe rows to time (1 = the samples alone, ..., "
        "4 = the recipe, 5 = the samples' recipe); bare always runs",
    )
    return p.parse_args()


def make_bare(linear_model, targets):
    """Forward + gradient of the summed target logits w.r.t. the waveform + update, n times."""
    onehot = tf.one_hot(targets, CLASSES)

    @tf.function(
        input_signature=[tf.TensorSpec([None, SAMPLES], tf.float32), tf.TensorSpec([], tf.int32)]
    )
    def bare(x, n):
        def body(i, x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = tf.reduce_sum(linear_model(x, training=False) * onehot)
            return i + 1, x + 0.01 * tape.gradient(total, x)

        return tf.while_loop(lambda i, x: i < n, body, (0, x))[1]

    return lambda x, steps: bare(x, tf.constant(steps)).numpy()


def recipe_variants(heard):
    """(label, Dreamer keyword arguments): the recipe built up one part at a time."""
    full = audio_recipe(SAMPLE_RATE, heard=heard)
    names = [type(t).__name__ + ":" + repr(t) for t in full["transforms"]]
    names += [repr(r) for r in full["regularizers"]]
    direct = params.direct((-1.0, 1.0))
    direct_recipe = audio_recipe(SAMPLE_RATE, heard=heard, param="direct")
    variants = [
        ("samples, nothing else", dict(param=direct, transforms=(), regularizers=())),
        ("short-time spectrum only", dict(param=full["param"], transforms=(), regularizers=())),
        (
            "spectrum + time shift",
            dict(param=full["param"], transforms=full["transforms"], regularizers=()),
        ),
        ("the recipe (" + ", ".join(names) + ")", full),
        (
            'the samples\' recipe (param="direct": projections instead of the spectrum)',
            direct_recipe,
        ),
    ]
    return [
        (label, {**kwargs, "learning_rate": full["learning_rate"]}) for label, kwargs in variants
    ]


def main():
    args = parse_args()
    keras.utils.set_random_seed(0)
    model = urbansound_cnn(CLASSES, frontend="waveform", width=args.width)
    heard = heard_span(model)
    targets = np.arange(args.rows) % CLASSES
    objective = objectives.class_logit([int(t) for t in targets])
    bare = make_bare(with_linear_logits(model), targets)
    start = (0.01 * np.random.default_rng(0).standard_normal((args.rows, SAMPLES))).astype(
        np.float32
    )

    contenders = [("bare", lambda steps: bare(start, steps))]
    variants = recipe_variants(heard)
    if args.only:
        variants = [variants[int(i) - 1] for i in args.only.split(",")]
    for label, kwargs in variants:
        dreamer = Dreamer(model, objective, spatial_rank=1, **kwargs)
        contenders.append(
            (
                label,
                lambda steps, d=dreamer: d.run(steps, seed=0, verbose=0, chunk_size=steps),
            )
        )
    for _, run in contenders:  # warm up: tracing and XLA compilation
        run(args.steps)
    times = {label: [] for label, _ in contenders}
    cpu_times = {label: [] for label, _ in contenders}
    for _ in range(args.repeats):
        for label, run in contenders:
            started, cpu_started = time.perf_counter(), time.process_time()
            run(args.steps)
            times[label].append((time.perf_counter() - started) / args.steps)
            cpu_times[label].append((time.process_time() - cpu_started) / args.steps)

    def ratios(table):
        # the ratio within each round, then the median over rounds: robust to the machine's load
        # drifting between rounds
        return {
            label: statistics.median(v / b for v, b in zip(values, table["bare"]))
            for label, values in table.items()
        }

    wall, cpu = ratios(times), ratios(cpu_times)
    print(
        f"seed CNN width {args.width:g}, {args.rows} rows of {SAMPLES} samples, "
        f"{args.steps} steps a call, median of {args.repeats} interleaved calls; CPU: the "
        "process's CPU time (both cores), steadier than wall time when other work shares them"
    )
    print("| contender | ms per step | × bare | CPU ms per step | CPU × bare |")
    print("|---|---:|---:|---:|---:|")
    figures = {}
    for label, values in times.items():
        median, cpu_median = statistics.median(values), statistics.median(cpu_times[label])
        figures[label] = {
            "ms_per_step": 1000 * median,
            "ratio": wall[label],
            "cpu_ms_per_step": 1000 * cpu_median,
            "cpu_ratio": cpu[label],
        }
        print(
            f"| {label} | {1000 * median:.1f} | {wall[label]:.2f} | {1000 * cpu_median:.1f} | "
            f"{cpu[label]:.2f} |"
        )
    if args.json:
        write_json(args.json, {"settings": vars(args), "contenders": figures})


if __name__ == "__main__":
    main()
