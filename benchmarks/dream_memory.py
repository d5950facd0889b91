"""Peak memory of deep dreams of long clips: bounded by the tile group, not by the clip's length.

Run:  .venv/bin/python benchmarks/dream_memory.py [--seconds 10,60,600] [--steps 2] [--layer conv4]
      [--width 0.25] [--json PATH]

Each length runs in a fresh process, so that its peak RSS (the kernel's high-water mark) is its own.
The child imports TensorFlow, builds tfam's seed UrbanSound CNN with the waveform front end
(untrained, seeded; memory does not depend on the weights) and notes its RSS; traces the dream's
functions on 36 s of audio and notes the RSS again; then dreams one octave of a clip of noise at
8 kHz into the layer, in tiles of the model's input length (4 s), 4 tiles per group. The table shows
how much the peak grows with the clip's length against the first run, and that growth in copies of
the clip (4 bytes per sample): a few copies (the input, the gradient, the next step) are the least a
dream needs; activations kept per tile would grow far more. It also shows the time of one step over
the whole clip and the longest compiled call: Python sees Ctrl-C only between calls.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RATE = 8000


def rss_mb():
    """(current RSS, peak RSS) of this process in MB."""
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def child(seconds, steps, layer, width):
    import keras
    import numpy as np

    from tfam.deep_dream import deepdream
    from tfam.models.urbansound_cnn import SAMPLES, urbansound_cnn
    from tfam.pacing import Pace

    class TimedPace(Pace):
        """A Pace that remembers how long its calls took."""

        def __init__(self):
            super().__init__()
            self.seconds = []

        def took(self, count, seconds):
            self.seconds.append(seconds)
            super().took(count, seconds)

    keras.utils.set_random_seed(0)
    model = urbansound_cnn(frontend="waveform", width=width)
    baseline, _ = rss_mb()
    # Trace both ways of running (whole steps per call, one step in parts) on 36 s of audio, so
    # that what the long clip adds to the peak is the clip's own.
    warm = np.full(9 * SAMPLES, 0.1, np.float32)
    for warm_pace in (Pace(first=1, limit=1), Pace(first=100, limit=100)):
        deepdream(
            model, layer, warm, steps=1, tile_size=SAMPLES, value_range=(-1.0, 1.0), pace=warm_pace
        )
    warmed, _ = rss_mb()
    # float32 from the start: a float64 draw would add two copies of the clip to the peak
    clip = np.random.default_rng(0).random(int(seconds * RATE), dtype=np.float32)
    clip -= 0.5
    clip *= 0.6
    pace = TimedPace()
    started = time.perf_counter()
    deepdream(
        model, layer, clip, steps=steps, tile_size=SAMPLES, value_range=(-1.0, 1.0), pace=pace
    )
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    return {
        "seconds": seconds,
        "samples": clip.size,
        "tiles": -(-clip.size // SAMPLES),
        "baseline_mb": baseline,
        "warmed_mb": warmed,
        "peak_mb": peak,
        "wall_s": wall,
        "step_s": wall / steps,
        "longest_call_s": max(pace.seconds),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", default="10,60,600", help="clip lengths in seconds")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--layer", default="conv4")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.steps, args.layer, args.width)))
        return

    rows = []
    for seconds in [float(s) for s in args.seconds.split(",")]:
        command = [
            sys.executable,
            __file__,
            "--child",
            str(seconds),
            "--steps",
            str(args.steps),
            "--layer",
            args.layer,
            "--width",
            str(args.width),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first = rows[0]
    print(
        f"deep dream of {args.layer} (UrbanSound CNN, width {args.width}, waveform front end), "
        f"{args.steps} steps, 1 octave, tiles of 32000 samples, 4 per group; 8 kHz noise"
    )
    print(
        "| audio s | samples | tiles | RSS after import + model MB | after tracing MB "
        "| peak RSS MB | peak above the first run MB | in copies of the clip | wall s "
        "| s per step | longest call s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        above = r["peak_mb"] - first["peak_mb"]
        extra = r["samples"] - first["samples"]
        copies = f"{above / (4 * extra / 2**20):.1f}" if extra else "-"
        print(
            f"| {r['seconds']:g} | {r['samples']} | {r['tiles']} | {r['baseline_mb']:.0f} | "
            f"{r['warmed_mb']:.0f} | {r['peak_mb']:.0f} | {above:+.0f} | {copies} | "
            f"{r['wall_s']:.1f} | {r['step_s']:.2f} | {r['longest_call_s']:.2f} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
