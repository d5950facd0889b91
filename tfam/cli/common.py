"""What every tfam program shares: one-line errors, exit 130 on Ctrl-C or SIGTERM, TensorFlow
imported quietly, both flag spellings, the common output and audio-input options.

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


def import_tensorflow_quietly(cpu_devices=0, strategy=None):
    """Import TensorFlow with its start-up lines silenced. ``cpu_devices`` > 1 splits the CPU into
    that many logical devices (to run tf.distribute strategies on one machine); ``strategy``: the
    name of the tf.distribute strategy the program will run under, made now, before the devices
    start (a multi-worker strategy cannot be made later; tfam.train.strategy)."""
    # 3: TensorFlow's C++ logs include harmless graph-optimizer "errors" in the middle of training
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") == "2":  # 2 is tfam's library default
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    stop_on_signals()
    try:
        _import_tensorflow(cpu_devices, strategy)
    except KeyboardInterrupt:  # importing TensorFlow takes seconds: Ctrl-C often lands here
        interrupted()


def _import_tensorflow(cpu_devices, strategy):
    with _quiet_stderr():
        import tensorflow as tf
        from absl import logging

        tf.get_logger().setLevel("WARNING")
        logging.set_verbosity(logging.WARNING)  # not the checkpoint saver's INFO lines
        if cpu_devices > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices
            )
        if strategy is not None:
            from tfam.train.strategy import make_strategy

            make_strategy(strategy)
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
    if hasattr(error, "op") and hasattr(
        error, "message"
    ):  # a TensorFlow OpError: drop the node names
        message = re.sub(r"\{\{[^}]*\}\}", "", error.message).split(" [Op:")[0].strip()
        return f"{message.splitlines()[0]} ({type(error).__name__})" if message else lines[0]
    return lines[0]


def add_output_arguments(group, default_out, tensorboard=True):
    """--out, --tensorboard, --quiet and --unsafe-load, the same for every tfam command."""
    group.add_argument(
        "--out", default=default_out, help=f"output directory (default {default_out})"
    )
    if tensorboard:
        group.add_argument(
            "--tensorboard",
            default=None,
            help="TensorBoard log directory (default OUT/tensorboard; 'none' to skip)",
        )
    group.add_argument("--quiet", action="store_true", help="no progress output")
    group.add_argument(
        "--unsafe-load",
        action="store_true",
        help="load models with Keras safe_mode off and run graphs without checking their ops "
        "(lets the file run code, read or write files: trusted files only)",
    )


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


def add_recipe_arguments(parser):
    """How a dream is made (steps, learning rate, parameterization, regularizers, the options of
    sounds), the same for every command that dreams; returns the (optimization, sounds) argument
    groups for the command's own options."""
    opts = parser.add_argument_group("optimization (defaults differ for images and sounds)")
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
    opts.add_argument("--seed", type=int, default=0)
    opts.add_argument(
        "--spatial-rank",
        type=int,
        choices=[1, 2],
        default=None,
        help="1 for audio, 2 for images, when the input shape does not tell",
    )
    sound = parser.add_argument_group("sounds (1-D inputs)")
    sound.add_argument(
        "--sample-rate",
        type=int,
        default=None,
        help="the model's sample rate (default 8000 for tfam's UrbanSound models, else 16000)",
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
    return opts, sound


MODEL_HELP = (
    ".keras / .h5 file, SavedModel directory or frozen GraphDef .pb (tfam inspect MODEL lists "
    "its inputs, outputs and the layers or tensors objectives can name)"
)


def add_model_arguments(parser, several=False):
    """The model and how to read it, the same for every tfam command that takes one (``several``:
    one or more models)."""
    if several:
        parser.add_argument(
            "model",
            nargs="+",
            help=MODEL_HELP + "; several models: one dream that all of them hear (the mean of "
            "their class logits)",
        )
    else:
        parser.add_argument("model", help=MODEL_HELP)
    group = parser.add_argument_group("reading the model")
    group.add_argument(
        "--output", default=None, help="the output to read when the model has several (by name)"
    )
    group.add_argument(
        "--reduce",
        choices=("mean", "max"),
        default="mean",
        help="an output with a time axis (batch, frames, classes) becomes one score per class "
        "by this reduction over frames (default mean)",
    )
    group.add_argument(
        "--input-node", default=None, help="a frozen graph's input node (default 'input')"
    )
    group.add_argument(
        "--output-node",
        default=None,
        help="a frozen graph's output node (default 'fc2/fully_connected/fc_out')",
    )
    group.add_argument(
        "--signature", default=None, help="a SavedModel's signature (default its only one)"
    )


def load_user_model(args, input_shape=None, path=None):
    """The model that the arguments name (or ``path``, read with the same options), as one Keras
    model with one input and one output."""
    from tfam.models.loading import load_model

    return load_model(
        args.model if path is None else path,
        safe_mode=not args.unsafe_load,
        output=args.output,
        reduce=args.reduce,
        input_shape=input_shape,
        input_node=args.input_node,
        output_node=args.output_node,
        signature=args.signature,
    )


def add_audio_input_arguments(group):
    """Options for reading a user's WAV, the same for every tfam command that reads one."""
    group.add_argument(
        "--zero-non-finite",
        action="store_true",
        help="replace NaN or infinite samples of a float WAV by silence (with a note) "
        "instead of refusing the file",
    )
    group.add_argument(
        "--offset",
        type=float,
        default=None,
        metavar="SECONDS",
        help="where the part the model hears starts in a clip longer than the model's input "
        "(default: the centre of the clip)",
    )


def show_notes(notes):
    """Print how an input was fitted to the model: notes on stdout, warnings on stderr."""
    for note in notes:
        if note.startswith("warning:"):
            print(f"tfam: {note}", file=sys.stderr, flush=True)
        else:
            print(f"note: {note}", flush=True)


def non_finite_policy(args):
    """How ``audio.read_wav`` treats NaN or infinite samples, from --zero-non-finite."""
    return "zero" if args.zero_non_finite else "refuse"
