"""Freeze the trained Keras model into one GraphDef file, as seed 002's freeze_graph.py did.

    python3 freeze_graph.py [--model logs/model/best.keras] [--output_graph logs/model/output.pb]
                            [--input_node input] [--output_node_names fc2/fully_connected/fc_out]
                            [--unsafe_load]

The .pb holds the weights as constants: a float32 Placeholder named by --input_node and the logits
at --output_node_names. eval.py (or any TensorFlow) runs it without the Keras model.
"""

import os
import sys

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import app, flags

from tfam.cli.common import fail, import_tensorflow_quietly, parse_absl_flags, run_guarded

flags.DEFINE_string("model", "logs/model/best.keras", "the Keras model train.py saved")
flags.DEFINE_string("output_graph", "logs/model/output.pb", "where to write the frozen graph")
flags.DEFINE_string("input_node", "input", "name of the input Placeholder node")
flags.DEFINE_string(
    "output_node_names",
    "fc2/fully_connected/fc_out",
    "name of the logits node (one name; the seed's flag name)",
)
flags.DEFINE_boolean(
    "unsafe_load",
    False,
    "load the model with Keras safe_mode off (lets the file run code: trusted files only)",
)
FLAGS = flags.FLAGS


def run():
    if "," in FLAGS.output_node_names:
        raise ValueError(
            f"--output_node_names takes one node name, got {FLAGS.output_node_names!r}"
        )
    if not os.path.exists(FLAGS.model):  # checked before TensorFlow's slow start
        raise FileNotFoundError(f"no model at {FLAGS.model}: train one first with python3 train.py")
    import_tensorflow_quietly()
    from tfam.models.loading import load_model  # after the quiet import: they load TensorFlow
    from tfam.train import freeze

    model = load_model(FLAGS.model, safe_mode=not FLAGS.unsafe_load)
    info = freeze.freeze(model, FLAGS.output_graph, FLAGS.input_node, FLAGS.output_node_names)
    size = os.path.getsize(FLAGS.output_graph)
    print(
        f"freeze_graph: wrote {FLAGS.output_graph} ({size / 1e6:.1f} MB): input "
        f"'{info.input_node}' {info.input_shape} -> output '{info.output_node}' {info.output_shape}"
    )


def main(argv):
    if len(argv) != 1:
        fail(
            f"unexpected argument {argv[1]!r}; usage: freeze_graph.py [--model PATH] "
            "[--output_graph PATH] [--input_node NAME] [--output_node_names NAME] [--unsafe_load]"
        )
    run_guarded(run)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_absl_flags)
