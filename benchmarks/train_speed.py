"""Training speed: train.py's loop (tfam.train.classifier.Trainer) against a plain Keras model.fit.

Run:  .venv/bin/python benchmarks/train_speed.py [--width 0.25] [--frontend waveform] [--batch 99]
      [--steps 60] [--warmup 10] [--repeats 3] [--val-every 0] [--json PATH]

Both contenders train a fresh model from tfam.train.classifier.build_model (the seed CNN by default, same
seed, so the same initial weights) with Adam at the same rate, on the same endless
tfam.train.classifier.balanced_batches(...) dataset (same seed, so the same batches in the same order) made
from a synthetic packed UrbanSound8K (tfam.data.urbansound.synthesize_packed, 20 training clips per
class, written to a temporary directory).

- train.py loop: ``Trainer(config, splits).train()`` itself, for warmup + steps iterations, on a
  temporary logdir, with everything that loop does per step: the compiled step, ``float()`` of loss
  and accuracy, the step counter, the seed's learning-rate rule (schedule "seed"), three TensorBoard
  scalars, a progress line every 10 steps (as train.py; printed into a buffer here). ckpt_every is
  larger than the run, so no checkpoint falls inside it. Validation batches (train.py's
  --val_every 10) are left out by default, since fit validates nothing here; --val-every N puts
  them back in. The time of each step is taken where the loop reports progress (a subclass records
  time.perf_counter() in Trainer._print_progress, which the loop calls after all of a step's work
  when progress_every is 1). The end-of-run checkpoint, full validation and .keras saves come after
  the last timed step.
- model.fit: ``model.compile(Adam(rate), SparseCategoricalCrossentropy(from_logits=True),
  metrics=["accuracy"])`` (jit_compile "auto", which Keras resolves to no XLA on a CPU-only machine)
  and ``model.fit(dataset, steps_per_epoch=warmup + steps, epochs=1, verbose=0)``; the time of each
  step is taken in a callback's on_train_batch_end.

For both, the timed span runs from the end of step ``warmup`` to the end of step ``warmup + steps``,
so tracing, the first batches of the input pipeline and start-up are not in it. clips/s = steps *
batch / seconds, with batch rounded down to a multiple of the class count (balanced batches). A
second figure uses the median time of one step in that span (end of step k to end of step k + 1, so
the train.py loop's per-step Python work is inside it): on a shared machine, bursts of load from
other processes hit a few steps of one contender and move the total, less the median. Repeats
alternate which contender goes first; the table shows medians over repeats, and the ratios are also
given as the median of per-repeat ratios (less sensitive to drift in machine speed).
"""

import argparse
import contextlib
import gc
import io
import os
import shutil
import statistics
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
import tensorflow as tf  # noqa: E402

from tfam.outputs import write_json  # noqa: E402
from tfam.train.classifier import TrainConfig, Trainer, balanced_batches, build_model  # noqa: E402

TRAINPY_PROGRESS_EVERY = 10  # train.py's default --progress_every


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--width", type=float, default=0.25, help="model width (1: the seed's full model)"
    )
    p.add_argument("--architecture", default="seed", choices=["seed", "timepool"])
    p.add_argument("--frontend", default="waveform", choices=["waveform", "spectrogram"])
    p.add_argument(
        "--batch", type=int, default=99, help="batch size (balanced: 11 clips of each of 9 classes)"
    )
    p.add_argument("--steps", type=int, default=60, help="timed steps per run")
    p.add_argument(
        "--warmup", type=int, default=10, help="untimed steps before them (tracing included)"
    )
    p.add_argument(
        "--repeats", type=int, default=3, help="runs of each contender (median reported)"
    )
    p.add_argument("--learning-rate", type=float, default=0.001)
    p.add_argument("--train-clips", type=int, default=20, help="synthetic training clips per class")
    p.add_argument(
        "--val-every",
        type=int,
        default=0,
        help="train.py loop only: a validation batch every N steps (0: none, like fit here)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = p.parse_args()
    if args.steps < 1 or args.warmup < 1 or args.repeats < 1 or args.batch < 1:
        p.error("--steps, --warmup, --repeats and --batch must be at least 1")
    return args


class TimedTrainer(Trainer):
    """Trainer whose progress hook records when each step finished (progress_every must be 1);
    it still formats train.py's progress line every 10 steps, into a buffer."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, progress_every=1, **kwargs)
        self.step_ends = {}

    def _print_progress(self, step, *rest):
        self.step_ends[step] = time.perf_counter()
        if step % TRAINPY_PROGRESS_EVERY == 0:
            with contextlib.redirect_stdout(io.StringIO()):
                super()._print_progress(step, *rest)


class StepTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.step_ends = {}

    def on_train_batch_end(self, batch, logs=None):
        self.step_ends[batch + 1] = time.perf_counter()


def run_trainer(args, config_kwargs, splits, workdir, rep):
    total = args.warmup + args.steps
    val_every = args.val_every if args.val_every > 0 else total + 1
    config = TrainConfig(
        iterations=total,
        logdir=os.path.join(workdir, f"trainer-{rep}"),
        val_every=val_every,
        ckpt_every=total + 1,
        **config_kwargs,
    )
    trainer = TimedTrainer(config, splits)
    with contextlib.redirect_stdout(io.StringIO()):  # its end-of-run lines
        trainer.train()
    shutil.rmtree(config.logdir, ignore_errors=True)  # checkpoints and .keras files: not needed
    return [trainer.step_ends[k] for k in range(args.warmup, total + 1)]


def run_fit(args, config_kwargs, splits, rep):
    config = TrainConfig(**config_kwargs)
    keras.utils.set_random_seed(config.seed)  # as Trainer does: the same initial weights
    model = build_model(config)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x, y = splits["train"]
    data = balanced_batches(x, y, config.n_classes, config.batch_size, config.frontend, config.seed)
    timer = StepTimes()
    total = args.warmup + args.steps
    model.fit(data, steps_per_epoch=total, epochs=1, verbose=0, callbacks=[timer], shuffle=False)
    if rep == 0:
        print(f"  (fit: jit_compile resolved to {model.jit_compile})", flush=True)
    return [timer.step_ends[k] for k in range(args.warmup, total + 1)]


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="tfam-train-speed-") as workdir:
        benchmark(args, workdir)


def benchmark(args, workdir):
    started = time.perf_counter()
    path = os.path.join(workdir, "urbansound.npz")
    class_names = us.synthesize_packed(
        path, clips_per_class=(args.train_clips, 2, 2), seed=args.seed
    )
    splits, class_names = us.load_packed(path)
    n_classes = len(class_names)
    batch = (args.batch // n_classes) * n_classes
    if batch < n_classes:
        sys.exit(f"--batch must be at least the number of classes ({n_classes})")
    print(
        f"synthetic data: {len(splits['train'][1])} training clips, {n_classes} classes "
        f"({time.perf_counter() - started:.1f}s)",
        flush=True,
    )
    config_kwargs = dict(
        batch_size=args.batch,
        architecture=args.architecture,
        frontend=args.frontend,
        width=args.width,
        learning_rate=args.learning_rate,
        seed=args.seed,
        n_classes=n_classes,
        class_names=tuple(class_names),
    )
    probe = build_model(TrainConfig(**config_kwargs))
    weights = probe.count_params()
    del probe

    contenders = {
        "train.py loop": lambda rep: run_trainer(args, config_kwargs, splits, workdir, rep),
        "model.fit": lambda rep: run_fit(args, config_kwargs, splits, rep),
    }
    names = list(contenders)
    times = {name: [] for name in names}  # per repeat, the seconds of all timed steps
    step_times = {name: [] for name in names}  # per repeat, the median seconds of one step
    for rep in range(args.repeats):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            keras.backend.clear_session()
            gc.collect()
            ends = contenders[name](rep)
            times[name].append(ends[-1] - ends[0])
            step_times[name].append(statistics.median(b - a for a, b in zip(ends, ends[1:])))
        print(
            f"repeat {rep + 1}/{args.repeats}: "
            + ", ".join(
                f"{n} {args.steps * batch / times[n][-1]:.1f} clips/s ({times[n][-1]:.1f}s; median step "
                f"{1000 * step_times[n][-1]:.0f} ms)"
                for n in order
            ),
            flush=True,
        )

    val_text = (
        f", a validation batch every {args.val_every} steps in the train.py loop"
        if args.val_every > 0
        else ""
    )
    print(
        f"\n{args.architecture} CNN width {args.width:g} ({weights:,} weights), {args.frontend} front "
        f"end, batch {batch}, {args.steps} timed steps after {args.warmup} warm-up steps{val_text}; "
        f"medians of {args.repeats} interleaved repeats; TensorFlow {tf.__version__}, Keras "
        f"{keras.__version__}, {os.cpu_count()} CPU cores"
    )
    print(
        "clips/s: all timed steps (their total time); median step: the median time of one step "
        "(robust to bursts of load from other processes)"
    )
    header = (
        f"{'contender':<16}{'clips/s':>10}{'ms/step':>10}{'vs fit':>9}{'median step ms':>16}"
        f"{'clips/s':>10}{'vs fit':>9}"
    )
    print(header)
    print("-" * len(header))
    median = {n: statistics.median(t) for n, t in times.items()}
    median_step = {n: statistics.median(t) for n, t in step_times.items()}
    figures = {}
    for name in names:
        sec, step = median[name], median_step[name]
        vs_fit, step_vs_fit = (
            median["model.fit"] / sec,
            median_step["model.fit"] / step,
        )  # > 1: faster
        figures[name] = dict(
            clips_per_second=args.steps * batch / sec,
            ms_per_step=1000 * sec / args.steps,
            speed_vs_fit=vs_fit,
            median_step_ms=1000 * step,
            median_step_clips_per_second=batch / step,
            median_step_speed_vs_fit=step_vs_fit,
            seconds=times[name],
            median_step_seconds=step_times[name],
        )
        print(
            f"{name:<16}{args.steps * batch / sec:>10.1f}{1000 * sec / args.steps:>10.1f}{vs_fit:>8.3f}x"
            f"{1000 * step:>16.1f}{batch / step:>10.1f}{step_vs_fit:>8.3f}x"
        )
    paired = statistics.median(f / t for t, f in zip(times["train.py loop"], times["model.fit"]))
    paired_step = statistics.median(
        f / t for t, f in zip(step_times["train.py loop"], step_times["model.fit"])
    )
    verdict = "met" if paired_step >= 0.97 else "NOT met"
    print(
        f"train.py loop / fit speed, median of per-repeat ratios: {paired:.3f}x (all steps), "
        f"{paired_step:.3f}x (median step); target >= 1 within 3 % noise: {verdict}; "
        f"total {time.perf_counter() - started:.0f}s"
    )

    if args.json:
        write_json(
            args.json,
            dict(
                architecture=args.architecture,
                width=args.width,
                weights=weights,
                frontend=args.frontend,
                batch=batch,
                steps=args.steps,
                warmup=args.warmup,
                repeats=args.repeats,
                learning_rate=args.learning_rate,
                train_clips_per_class=args.train_clips,
                val_every=args.val_every,
                tensorflow=tf.__version__,
                keras=keras.__version__,
                cpu_cores=os.cpu_count(),
                paired_speed_vs_fit=paired,
                paired_median_step_speed_vs_fit=paired_step,
                contenders=figures,
            ),
        )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
