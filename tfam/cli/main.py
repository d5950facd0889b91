"""The ``tfam`` command: ``tfam dream MODEL --class seven``, ``tfam deepdream``, ``tfam explain``,
``tfam inspect``, ``tfam atlas``."""

import sys

from tfam.cli import atlas, deepdream, explain, inspect  # light: TensorFlow loads when they run
from tfam.cli.common import (
    ArgumentParser,
    add_model_arguments,
    add_output_arguments,
    add_recipe_arguments,
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
    opts, sound = add_recipe_arguments(dream)
    opts.add_argument(
        "--batch", type=int, default=None, help="rows for a single target (default 1)"
    )
    opts.add_argument(
        "--max-batch",
        type=int,
        default=64,
        help="rows optimized at a time (memory grows with them; default 64)",
    )
    sound.add_argument(
        "--start",
        default=None,
        metavar="noise|silence|pink|CLIP.wav",
        help="what a sound dream starts from: quiet white noise (default, RMS 0.01), silence, "
        "pink noise, or a WAV file (fitted to the model as deepdream fits it)",
    )
    add_output_arguments(dream.add_argument_group("output"), "runs/dream")
    deepdream.add_parser(commands)
    explain.add_parser(commands)
    inspect.add_parser(commands)
    atlas.add_parser(commands)
    return parser


def main(argv=None):
    stop_on_signals()
    try:
        parser = build_parser()
    except KeyboardInterrupt:
        interrupted()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    import_tensorflow_quietly(getattr(args, "cpu_devices", 0), getattr(args, "strategy", None))
    run_guarded(_run_command, args)
    return 0  # the console script exits with this


def _run_command(args):
    from tfam.cli import dream  # imports TensorFlow: after the quiet import

    commands = {
        "dream": dream.run,
        "deepdream": deepdream.run,
        "explain": explain.run,
        "inspect": inspect.run,
        "atlas": atlas.run,
    }
    return commands[args.command](args)


if __name__ == "__main__":
    main()
