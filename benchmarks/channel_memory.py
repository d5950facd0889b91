"""Peak memory of a dream over many channels of a wide layer: bounded by --max-batch, not by the
number of channels.

Run:  .venv/bin/python benchmarks/channel_memory.py [--channels 32,128,512] [--max-batch 32]
      [--layer conv4] [--width 1.0] [--steps 2]

Each count runs in a fresh process (its peak RSS, the kernel's high-water mark, is its own): tfam's
seed UrbanSound CNN (waveform front end, untrained and seeded: memory does not depend on the
weights; width 1 has 512 channels in conv4) dreams the first N channels of the layer for a few
steps with ``tfam.dream(..., max_batch=B)``, and, for comparison, the same N channels in one batch.
"""

import argparse
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def peak_mb():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmHWM"].split()[0]) / 1024


def child(channels, max_batch, layer, width, steps):
    import keras

    import tfam
    from tfam import objectives
    from tfam.audio.sound_dreams import audio_recipe
    from tfam.models.urbansound_cnn import urbansound_cnn

    keras.utils.set_random_seed(0)
    model = urbansound_cnn(frontend="waveform", width=width)
    before = peak_mb()
    started = time.perf_counter()
    tfam.dream(
        model,
        objectives.channel(layer, list(range(channels))),
        steps=steps,
        verbose=0,
        spatial_rank=1,
        max_batch=max_batch or None,
        **audio_recipe(8000),
    )
    print(f"{before:.0f} {peak_mb():.0f} {time.perf_counter() - started:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", default="32,128,512")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--layer", default="conv4")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        channels, max_batch = (int(v) for v in args.child.split(","))
        return child(channels, max_batch, args.layer, args.width, args.steps)
    print(
        f"{args.layer} of the seed CNN at width {args.width:g}, {args.steps} steps, 4 s rows at 8 kHz"
    )
    print(
        f"{'channels':>8} {'rows at a time':>15} {'RSS after build MB':>19} {'peak RSS MB':>12} {'s':>6}"
    )
    for channels in (int(c) for c in args.channels.split(",")):
        for max_batch in (args.max_batch, 0):
            if max_batch == 0 and channels > 4 * args.max_batch:
                continue  # one batch of all of them: the point is that it is not needed
            command = [
                sys.executable,
                __file__,
                "--child",
                f"{channels},{max_batch}",
                "--layer",
                args.layer,
                "--width",
                str(args.width),
                "--steps",
                str(args.steps),
            ]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
            rows = max_batch or channels
            print(f"{channels:>8} {rows:>15} {out[0]:>19} {out[1]:>12} {out[2]:>6}")


if __name__ == "__main__":
    main()
