"""Deep dream of real recordings: how much a layer's mean square grows at the clip's loudness, for
settings of tfam.deepdream on sounds, with the clips fitted as `tfam deepdream` fits them.

Run:  .venv/bin/python benchmarks/sound_dreams.py --keep runs/bench-models     (trains two models)
      .venv/bin/python benchmarks/deepdream_sound.py --model runs/bench-models/seed.keras
      [--layers conv2,conv3,conv4] [--steps 100]

Clips (Debian packages, `make sounds`): espeak-ng speech (22.05 kHz), ALSA's Front_Center.wav
(48 kHz, 1.4 s), freedesktop's alarm clock (48 kHz stereo, 6.1 s) and busy tone (8 kHz stereo,
2.9 s), decoded by sox. Settings: "image" is the image recipe (step 0.01 of the normalized
gradient, 3 octaves, rolls anywhere, loudness free, every sample free to change); "kept" keeps the
loudness with steps of 0.01 of the RMS; "default" is `tfam deepdream`'s for sounds (0.1 of the
RMS, one octave, rolls of at most 20 ms).
Printed per clip, layer and setting: the layer's mean square after / before, and the change of
RMS in dB.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

THEME = "/usr/share/sounds/freedesktop/stereo"


def real_clips(root):
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        sys.exit("needs espeak-ng and sox (make sounds)")
    clips = {"speech": os.path.join(root, "speech.wav")}
    subprocess.run(
        ["espeak-ng", "-w", clips["speech"], "The quick brown fox jumps over the lazy dog"],
        check=True,
    )
    clips["front_center"] = "/usr/share/sounds/alsa/Front_Center.wav"
    for name, source in (("alarm", "alarm-clock-elapsed"), ("busy", "phone-outgoing-busy")):
        clips[name] = os.path.join(root, name + ".wav")
        subprocess.run(["sox", f"{THEME}/{source}.oga", clips[name]], check=True)
    return clips


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a waveform model (.keras) at --sample-rate")
    p.add_argument("--layers", default="conv2,conv3,conv4")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--sample-rate", type=int, default=8000)
    args = p.parse_args()

    from tfam.cli import deepdream as ddc
    from tfam.deep_dream import deepdream, tiled_objective
    from tfam.layout import layout_of
    from tfam.models.loading import load_model

    model = load_model(args.model)
    samples = model.inputs[0].shape[1]
    heard = ddc.clip_heard_span(model)
    rate = args.sample_rate
    settings = {
        "image": dict(step_size=0.01, octaves=(-2, -1, 0), keep_loudness=False, max_roll=None),
        "kept": dict(step_size=0.01, octaves=(0,), keep_loudness=True, max_roll=None),
        "default": dict(
            step_size=ddc.AUDIO_STEP_SIZE,
            octaves=tuple(range(1 - ddc.AUDIO_OCTAVES, 1)),
            keep_loudness=True,
            max_roll=round(ddc.AUDIO_MAX_ROLL_SECONDS * rate),
        ),
    }
    print(f"model {args.model}, {args.steps} steps; mean square after/before, RMS change (dB)")
    print(f"{'clip':14s} {'layer':6s} " + "  ".join(f"{k:>16s}" for k in settings))
    with tempfile.TemporaryDirectory() as root:
        for name, path in real_clips(root).items():
            x, _, mask = ddc.load_waveform(
                path, rate, (samples,), layout_of((None, samples)), heard=heard
            )
            rms = np.sqrt(np.mean(x.astype(np.float64) ** 2))
            for layer in args.layers.split(","):
                before = tiled_objective(model, layer, x, (samples,))
                cells = []
                for s in settings.values():
                    dream = deepdream(
                        model,
                        layer,
                        x,
                        steps=args.steps,
                        tile_size=(samples,),
                        value_range=(-1.0, 1.0),
                        mask=mask if s["keep_loudness"] else None,  # the image recipe: none
                        **s,
                    )
                    gain = tiled_objective(model, layer, dream, (samples,)) / before
                    db = 20 * np.log10(np.sqrt(np.mean(dream.astype(np.float64) ** 2)) / rms)
                    cells.append(f"{gain:6.2f}x {db:+6.2f} dB")
                print(f"{name:14s} {layer:6s} " + "  ".join(f"{c:>16s}" for c in cells))


if __name__ == "__main__":
    main()
