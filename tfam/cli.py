"""The ``tfam`` command: ``tfam dream MODEL --class seven`` and friends.

User errors (missing files, unknown classes or layers, bad shapes, NaN) end in one line on stderr
and exit status 2, never a traceback.
"""
import argparse
import contextlib
import os
import re
import signal
import sys

USER_ERRORS = (ValueError, OSError, FloatingPointError, KeyError)
INTERRUPTED = 130  # the shell's exit status for a program stopped by SIGINT


def user_errors():
    """The exception types reported in one line: tfam's, and TensorFlow's own (a file it cannot
    write, a shape a graph refuses) once TensorFlow is loaded."""
    tf = sys.modules.get("tensorflow")
    errors = getattr(tf, "errors", None)
    return USER_ERRORS + ((errors.OpError,) if errors is not None else ())


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def stop_on_signals():
    """SIGTERM stops a program the way Ctrl-C does: a KeyboardInterrupt, so that ``finally`` blocks
    run (temporary files go away) and the program ends with one line and exit 130."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)


def interrupted():
    """One line and exit 130, at once. The stack has unwound by now (``finally`` blocks ran, atomic
    writes finished or were dropped); what is left is the interpreter's teardown, which takes 1-2 s
    of CPU once TensorFlow is loaded, so the process ends without it."""
    print("tfam: interrupted", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2: TensorFlow's C++ start-up lines are written before any log level
    applies. Python exceptions still propagate and are reported after the block."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly(cpu_devices=0):
    """Import TensorFlow with its start-up lines silenced. ``cpu_devices`` > 1 splits the CPU into
    that many logical devices (to run tf.distribute strategies on one machine)."""
    # 3: TensorFlow's C++ logs include harmless graph-optimizer "errors" in the middle of training
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") == "2":  # 2 is tfam's library default
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    stop_on_signals()
    try:
        _import_tensorflow(cpu_devices)
    except KeyboardInterrupt:  # importing TensorFlow takes seconds: Ctrl-C often lands here
        interrupted()


def _import_tensorflow(cpu_devices):
    with _quiet_stderr():
        import tensorflow as tf
        from absl import logging
        tf.get_logger().setLevel("WARNING")
        logging.set_verbosity(logging.WARNING)  # not the checkpoint saver's INFO lines
        if cpu_devices > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        tf.config.list_logical_devices()  # device start-up (and its CUDA probing) happens here


def fail(message):
    print(f"tfam: error: {message}", file=sys.stderr)
    sys.exit(2)


def spell_flags(argv, separator):
    """``--learning_rate`` and ``--learning-rate`` are one flag: absl names flags with underscores,
    argparse with dashes, and a user should not have to remember which program is which. Rewrites
    the names of long options (not their values, nothing after a bare ``--``) with ``separator``."""
    other = "-" if separator == "_" else "_"
    spelled, options_done = [], False
    for token in argv:
        options_done = options_done or token == "--"
        if not options_done and token.startswith("--") and len(token) > 2:
            name, equals, value = token[2:].partition("=")
            token = "--" + name.replace(other, separator) + equals + value
        spelled.append(token)
    return spelled


def parse_absl_flags(argv):
    """An absl ``flags_parser`` for app.run: a bad flag is one line and exit 2, like other errors."""
    from absl import flags

    try:
        return flags.FLAGS(argv[:1] + spell_flags(argv[1:], "_"))
    except flags.Error as error:
        fail(str(error).splitlines()[0])


def run_guarded(main, *args):
    """Run ``main``; turn user errors into one clear line and a non-zero exit."""
    stop_on_signals()
    try:
        return main(*args)
    except KeyboardInterrupt:
        interrupted()
    except user_errors() as error:
        fail(one_line(error))


def one_line(error):
    """The line of an error message that names the problem. TensorFlow wraps errors raised while
    tracing as 'in user code: ... <traceback> ... ValueError: the message', so take the last line."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if lines[0].startswith("in user code"):
        return lines[-1]
    if hasattr(error, "op") and hasattr(error, "message"):  # a TensorFlow OpError: drop the node names
        message = re.sub(r"\{\{[^}]*\}\}", "", error.message).split(" [Op:")[0].strip()
        return f"{message.splitlines()[0]} ({type(error).__name__})" if message else lines[0]
    return lines[0]


def add_output_arguments(group, default_out, tensorboard=True):
    """--out, --tensorboard, --quiet and --unsafe-load, the same for every tfam command."""
    group.add_argument("--out", default=default_out, help=f"output directory (default {default_out})")
    if tensorboard:
        group.add_argument("--tensorboard", default=None,
                           help="TensorBoard log directory (default OUT/tensorboard; 'none' to skip)")
    group.add_argument("--quiet", action="store_true", help="no progress output")
    group.add_argument("--unsafe-load", action="store_true",
                       help="load models with Keras safe_mode off (lets the file run code: trusted files only)")


class TfamParser:
    """Mixed into an argparse parser: an argument error is one line and a pointer to --help, not
    the usage text first; ``--max_batch`` is taken for ``--max-batch`` (see spell_flags)."""

    def parse_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else args
        return super().parse_args(spell_flags([str(a) for a in args], "-"), namespace)

    def error(self, message):
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(2)


class ArgumentParser(TfamParser, argparse.ArgumentParser):
    """argparse the tfam way (the demos' parsers)."""


def add_audio_input_arguments(group):
    """Options for reading a user's WAV, the same for every tfam command that reads one."""
    group.add_argument("--zero-non-finite", action="store_true",
                       help="replace NaN or infinite samples of a float WAV by silence (with a note) "
                            "instead of refusing the file")


def non_finite_policy(args):
    """How ``audio.read_wav`` treats NaN or infinite samples, from --zero-non-finite."""
    return "zero" if args.zero_non_finite else "refuse"


def build_parser():
    from absl.flags import argparse_flags

    class Parser(TfamParser, argparse_flags.ArgumentParser):
        pass

    parser = Parser(prog="tfam", description="See and hear what a Keras network has learned.")
    commands = parser.add_subparsers(dest="command", required=True)

    dream = commands.add_parser("dream", help="activation maximization: dream inputs for targets",
                                description="Optimize inputs until a class, neuron, channel or layer "
                                            "fires; writes PNG (2-D inputs) or WAV and a "
                                            "spectrogram PNG (1-D inputs), summary.json and "
                                            "TensorBoard events.")
    dream.add_argument("model", help=".keras / .h5 file or SavedModel directory")
    target = dream.add_argument_group("target (a class, or a layer with --channel/--neuron)")
    target.add_argument("--class", dest="classes", default=None,
                        help="comma-separated class indices or names, one row each; '1+7' sums "
                             "classes in one row; 'all' dreams every class")
    target.add_argument("--layer", help="layer name: alone, deep-dream objective (mean square)")
    target.add_argument("--channel", help="with --layer: comma-separated channels, one row each; "
                                          "'all' for every channel of the layer")
    target.add_argument("--neuron", help="with --layer: comma-separated units (at the centre), one row each")
    target.add_argument("--labels", help="class names, one per line (default: MODEL.labels.txt beside "
                                         "the model, if present)")
    opts = dream.add_argument_group("optimization (defaults differ for images and sounds)")
    opts.add_argument("--steps", type=int, default=None, help="default 200 (images), 300 (sounds)")
    opts.add_argument("--learning-rate", type=float, default=None, help="default 0.05 (images), 0.01 (sounds)")
    opts.add_argument("--param", choices=["direct", "fourier"], default="direct")
    opts.add_argument("--range", dest="value_range", default=None,
                      help="input range 'low,high' (default 0,1 for 2-D inputs, -1,1 for 1-D)")
    opts.add_argument("--tv", type=float, default=None, help="total-variation weight (0.1 images, 0.05 sounds)")
    opts.add_argument("--l1", type=float, default=None, help="L1-norm weight (0.1 images, 0 sounds)")
    opts.add_argument("--jitter", type=int, default=None, help="random roll in pixels (images; default 2)")
    opts.add_argument("--batch", type=int, default=None, help="rows for a single target (default 1)")
    opts.add_argument("--max-batch", type=int, default=64,
                      help="rows optimized at a time (memory grows with them; default 64)")
    opts.add_argument("--seed", type=int, default=0)
    opts.add_argument("--spatial-rank", type=int, choices=[1, 2], default=None,
                      help="1 for audio, 2 for images, when the input shape does not tell")
    sound = dream.add_argument_group("sounds (1-D inputs)")
    sound.add_argument("--sample-rate", type=int, default=None,
                       help="the model's sample rate (default 8000 for tfam's UrbanSound models, else 16000)")
    sound.add_argument("--max-shift", type=float, default=0.16,
                       help="random time shift per step, up to this many seconds (0: off)")
    sound.add_argument("--max-rms", type=float, default=0.1, help="loudness bound: RMS cap (0: off)")
    sound.add_argument("--high-band-weight", type=float, default=1.0,
                       help="penalty on the share of energy above --cutoff-hz (0: off)")
    sound.add_argument("--cutoff-hz", type=float, default=None, help="default 7/8 of the Nyquist frequency")
    add_output_arguments(dream.add_argument_group("output"), "runs/dream")
    from tfam import deepdream_command  # light: TensorFlow loads when a command runs
    deepdream_command.add_parser(commands)
    from tfam import explain_command  # light as well
    explain_command.add_parser(commands)
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
    from tfam import deepdream_command, dream_command, explain_command  # after the quiet import

    commands = {"dream": dream_command.run, "deepdream": deepdream_command.run,
                "explain": explain_command.run}
    return commands[args.command](args)


if __name__ == "__main__":
    main()
