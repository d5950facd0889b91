"""tfam atlas: channels per second on one device, on two logical CPU devices and as the naive loop
of one tfam.dream call per channel; and peak memory as the number of channels grows.

Run:  .venv/bin/python benchmarks/atlas.py [--channels 8] [--steps 100] [--max-batch 16]
      [--memory 4,8,16,32,all] [--memory-steps 3] [--width 0.25] [--jit-compile auto|off]
      [--skip speed|memory] [--json PATH]

The model is tfam's seed UrbanSound CNN (waveform front end, untrained and seeded; neither speed
nor memory depends on the weights), its conv layers conv1-conv4 (16, 32, 64 and 128 channels at
width 0.25), the sound recipe of tfam.audio.sound_dreams (short-time spectrum, 4 s at 8 kHz).
Every contender runs in a fresh process, and writes what a user keeps of every channel (a WAV and
its spectrogram PNG), so the figures are end to end: import and model excluded, tracing, XLA
compiling, dreaming and writing included.

- speed: the first ``--channels`` channels of each conv layer, ``--steps`` steps each: the atlas
  (tfam.atlas.run_atlas, batches of ``--max-batch``) on the default device, the same on two
  logical CPU devices (MirroredStrategy), and a loop of tfam.dream, one channel per call (the
  compiled loop is traced once and reused: tfam.dream caches it).
- memory: the atlas with the first N channels of each layer for each N of ``--memory`` (all: every
  channel, 240), ``--memory-steps`` steps, batches of ``--max-batch``: the peak RSS (the kernel's
  high-water mark) of each run, in a process of its own.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

LAYERS = ("conv1", "conv2", "conv3", "conv4")
RATE = 8000


def peak_mb():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmHWM"].split()[0]) / 1024


JIT = {"auto": "auto", "off": False}


def child(kind, channels, steps, max_batch, width, cpu_devices, jit):
    import keras
    import tensorflow as tf

    if cpu_devices > 1:  # before TensorFlow starts its devices
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices
        )
    from tfam.atlas import plan
    from tfam.atlas.job import Look, run_atlas
    from tfam.audio.heard import heard_span
    from tfam.audio.sound_dreams import audio_recipe
    from tfam.models.urbansound_cnn import urbansound_cnn

    strategy = tf.distribute.MirroredStrategy() if cpu_devices > 1 else None
    keras.utils.set_random_seed(0)
    with strategy.scope() if strategy else tf.name_scope("model"):
        model = urbansound_cnn(frontend="waveform", width=width)
    heard = heard_span(model)
    recipe = audio_recipe(RATE, heard=heard)
    look = Look(RATE, tuple(round(s / RATE, 3) for s in heard))
    sections = plan.sections(model, list(LAYERS), channels, classes=False)
    units = sum(len(s.names) for s in sections)
    before = peak_mb()
    out = tempfile.mkdtemp(prefix="atlas-bench-")
    started = time.perf_counter()
    if kind == "naive":
        naive_loop(model, sections, steps, recipe, look, out, JIT[jit])
    else:
        run_atlas(model, sections, out, recipe, steps, max_batch=max_batch, look=look,
                  strategy=strategy, verbose=0, jit_compile=JIT[jit])  # fmt: skip
    seconds = time.perf_counter() - started
    return {
        "kind": kind,
        "devices": max(cpu_devices, 1),
        "channels": units,
        "steps": steps,
        "seconds": seconds,
        "channels_per_s": units / seconds,
        "rss_before_mb": before,
        "peak_mb": peak_mb(),
    }


def naive_loop(model, sections, steps, recipe, look, out, jit_compile):
    """What a user would write without tfam atlas: one tfam.dream call per channel, each written."""
    import tfam
    from tfam import audio, objectives
    from tfam.report.summaries import write_spectrogram_png

    for section in sections:
        for channel in range(len(section.names)):
            result = tfam.dream(
                model,
                objectives.channel(section.layer, channel),
                steps=steps,
                seed=0,
                verbose=0,
                spatial_rank=1,
                jit_compile=jit_compile,
                **recipe,
            )
            stem = os.path.join(out, f"{section.folder}-{channel:04d}")
            audio.write_wav(stem + ".wav", result.x[0], RATE)
            write_spectrogram_png(stem + ".png", result.x[0], RATE, heard=look.heard)


def run_child(kind, channels, steps, max_batch, width, jit, cpu_devices=0):
    command = [sys.executable, __file__, "--child", kind, "--steps", str(steps)]
    command += ["--channels", str(channels), "--max-batch", str(max_batch)]
    command += ["--width", str(width), "--cpu-devices", str(cpu_devices), "--jit-compile", jit]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", default="8", help="first channels of each layer (speed)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--memory", default="4,8,16,32,all", help="channels per layer (memory)")
    parser.add_argument("--memory-steps", type=int, default=3)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--jit-compile", choices=sorted(JIT), default="auto")
    parser.add_argument("--skip", default="", help="comma-separated: speed, memory")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cpu-devices", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()

    def count(spec):
        return None if spec == "all" else int(spec)

    if args.child:
        row = child(
            args.child,
            count(args.channels),
            args.steps,
            args.max_batch,
            args.width,
            args.cpu_devices,
            args.jit_compile,
        )
        print(json.dumps(row))
        return

    rows = {"speed": [], "memory": []}
    if "speed" not in args.skip:
        for kind, devices in (("atlas", 0), ("atlas", 2), ("naive", 0)):
            row = run_child(
                kind,
                args.channels,
                args.steps,
                args.max_batch,
                args.width,
                args.jit_compile,
                devices,
            )
            rows["speed"].append(row)
            print(json.dumps(row), flush=True)
        print(
            f"\nspeed: seed CNN (width {args.width}, waveform), the first {args.channels} "
            f"channels of {', '.join(LAYERS)}, {args.steps} steps, sound recipe, WAV + PNG each, "
            f"jit_compile {args.jit_compile}"
        )
        print("| contender | devices | channels | s | channels/s | peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in rows["speed"]:
            name = "atlas" if r["kind"] == "atlas" else "one tfam.dream per channel"
            print(
                f"| {name} | {r['devices']} | {r['channels']} | {r['seconds']:.1f} | "
                f"{r['channels_per_s']:.2f} | {r['peak_mb']:.0f} |"
            )
    if "memory" not in args.skip:
        for spec in args.memory.split(","):
            row = run_child(
                "atlas", spec, args.memory_steps, args.max_batch, args.width, args.jit_compile
            )
            rows["memory"].append(row)
            print(json.dumps(row), flush=True)
        print(
            f"\nmemory: the atlas, {args.memory_steps} steps, batches of {args.max_batch}, "
            "one device"
        )
        print("| channels | RSS before MB | peak RSS MB | s |")
        print("|---:|---:|---:|---:|")
        for r in rows["memory"]:
            print(
                f"| {r['channels']} | {r['rss_before_mb']:.0f} | {r['peak_mb']:.0f} | "
                f"{r['seconds']:.1f} |"
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
