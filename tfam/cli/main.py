"""The ``tfam`` command: ``tfam dream MODEL --class seven``, ``tfam deepdream``, ``tfam explain``."""

import argparse
import sys

from tfam.cli import deepdream, explain, inspect  # light: they import TensorFlow only when they run
from tfam.cli.common import (
    ArgumentParser,
    add_model_arguments,
    add_output_arguments,
    import_tensorflow_quietly,
    interrupted,
    run_guarded,
    stop_on_signals,
)


def build_parser():
    # plain argparse, not absl's argparse_flags: that one adds every absl flag defined in the process
    # (train.py's --seed, once train.py is imported) and then clashes with tfam's own
    parser = ArgumentParser(
        prog="tfam", description="See and hear what a Keras network has learned."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    dream = commands.add_parser(
        "dream",
        help="activation maximization: dream inputs for targets",
        description="Optimize inputs until a class, neuron, channel or layer "
        "fires; writes PNG (2-D inputs) or WAV and a "
        "spectrogram PNG (1-D inputs), summary.json and "
        "TensorBoard events.",
    )
    add_model_arguments(dream, several=True)
    target = dream.add_argument_group("target (a class, or a layer with --channel/--neuron)")
    target.add_argument(
        "--class",
        dest="classes",
        default=None,
        help="comma-separated class indices or names, one row each; '1+7' sums "
        "classes in one row; 'all' dreams every class",
    )
    target.add_argument("--layer", help="layer name: alone, deep-dream objective (mean square)")
    target.add_argument(
        "--channel",
        help="with --layer: comma-separated channels, one row each; "
        "'all' for every channel of the layer",
    )
    target.add_argument(
        "--neuron", help="with --layer: comma-separated units (at the centre), one row each"
    )
    target.add_argument(
        "--labels",
        help="class names, one per line (default: MODEL.labels.txt beside the model, if present)",
    )
    opts = dream.add_argument_group("optimization (defaults differ for images and sounds)")
    opts.add_argument("--steps", type=int, default=None, help="default 200 (images), 300 (sounds)")
    opts.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="default 0.05 (images and the spectra of sounds), 0.01 (the samples of sounds)",
    )
    opts.add_argument(
        "--param",
        choices=["direct", "fourier", "stft", "maco"],
        default=None,
        help="what is optimized: the samples or pixels (direct, the default for images), a 1/f "
        "spectrum (fourier); for sounds a short-time spectrum (stft, the default) or the phase "
        "of a pink spectrum (maco)",
    )
    opts.add_argument(
        "--range",
        dest="value_range",
        default=None,
        help="input range 'low,high' (default 0,1 for 2-D inputs, -1,1 for 1-D)",
    )
    opts.add_argument(
        "--tv", type=float, default=None, help="total-variation weight (0.1 images, 0.05 sounds)"
    )
    opts.add_argument(
        "--l1", type=float, default=None, help="L1-norm weight (0.1 images, 0 sounds)"
    )
    opts.add_argument(
        "--jitter", type=int, default=None, help="random roll in pixels (images; default 2)"
    )
    opts.add_argument(
        "--batch", type=int, default=None, help="rows for a single target (default 1)"
    )
    opts.add_argument(
        "--max-batch",
        type=int,
        default=64,
        help="rows optimized at a time (memory grows with them; default 64)",
    )
    opts.add_argument("--seed", type=int, default=0)
    opts.add_argument(
        "--spatial-rank",
        type=int,
        choices=[1, 2],
        default=None,
        help="1 for audio, 2 for images, when the input shape does not tell",
    )
    sound = dream.add_argument_group("sounds (1-D inputs)")
    sound.add_argument(
        "--sample-rate",
        type=int,
        default=None,
        help="the model's sample rate (default 8000 for tfam's UrbanSound models, else 16000)",
    )
    sound.add_argument(
        "--start",
        default=None,
        metavar="noise|silence|pink|CLIP.wav",
        help="what a sound dream starts from: quiet white noise (default, RMS 0.01), silence, "
        "pink noise, or a WAV file (fitted to the model as deepdream fits it)",
    )
    sound.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="the dream's length, for a model that takes sounds of any length",
    )
    sound.add_argument(
        "--max-shift",
        type=float,
        default=0.16,
        help="random time shift per step, up to this many seconds (0: off)",
    )
    sound.add_argument(
        "--max-rms", type=float, default=0.1, help="loudness bound: RMS cap (0: off)"
    )
    sound.add_argument(
        "--low-pass",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="remove everything above --cutoff-hz after every step (default: on)",
    )
    sound.add_argument(
        "--high-band-weight",
        type=float,
        default=0.0,
        help="a penalty on the share of energy above --cutoff-hz (default 0: off)",
    )
    sound.add_argument(
        "--cutoff-hz", type=float, default=None, help="default 7/8 of the Nyquist frequency"
    )
    add_output_arguments(dream.add_argument_group("output"), "runs/dream")
    deepdream.add_parser(commands)
    explain.add_parser(commands)
    inspect.add_parser(commands)
    return parser


def main(argv=None):
    stop_on_signals()
    try:
        parser = build_parser()
    except KeyboardInterrupt:
        interrupted()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    import_tensorflow_quietly()
    run_guarded(_run_command, args)
    return 0  # the console script exits with this


def _run_command(args):
    from tfam.cli import dream  # imports TensorFlow: after the quiet import

    commands = {
        "dream": dream.run,
        "deepdream": deepdream.run,
        "explain": explain.run,
        "inspect": inspect.run,
    }
    return commands[args.command](args)


if __name__ == "__main__":
    main()
