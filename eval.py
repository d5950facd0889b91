"""Evaluate a frozen graph on UrbanSound8K, as seed 002's eval.py did: the .pb alone, no Keras model.

    python3 eval.py [--graph logs/model/output.pb] [--data ./UrbanSound8K_modified/urbansound.pkl]
                    [--allow_pickle] [--split test|validate|train] [--input_node input]
                    [--output_node fc2/fully_connected/fc_out] [--json results.json]

A graph whose input is a waveform (None, 32000) gets the audio; one whose input is a spectrogram
(None, 129, 13, 1) gets the seed's spectrogram of it. Prints the accuracy, the accuracy of each
class and the confusion matrix (rows: true class, columns: predicted class).
"""

import os
import sys

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import app, flags

from tfam.cli.common import fail, import_tensorflow_quietly, parse_absl_flags, run_guarded
from tfam.data import urbansound

flags.DEFINE_string("graph", "logs/model/output.pb", "the frozen graph freeze_graph.py wrote")
flags.DEFINE_string("data", urbansound.DEFAULT_PATH, "packed .npz, its folder, or the seed's .pkl")
flags.DEFINE_boolean("allow_pickle", False, "trust a .pkl dataset (pickles can run code)")
flags.DEFINE_enum("split", "test", list(urbansound.SPLITS), "which split to evaluate")
flags.DEFINE_string("input_node", "input", "name of the graph's input Placeholder")
flags.DEFINE_string("output_node", "fc2/fully_connected/fc_out", "name of the graph's logits node")
flags.DEFINE_string("json", None, "also write the results to this JSON file")
flags.DEFINE_integer("batch_size", 256, "clips per run of the graph")
FLAGS = flags.FLAGS

WAVEFORM = (None, urbansound.SAMPLES)
SPECTROGRAM = (None, 129, 13, 1)  # tfam.audio.spectrogram.SHAPE, without importing TensorFlow yet


def confusion_table(confusion, class_names):
    """Aligned text: one row per true class (index and name), one column per predicted index."""
    n = len(class_names)
    width = max(len(str(confusion.max())), len(str(n - 1)), 1) + 1
    corner = "true \\ predicted"
    label = max([len(corner)] + [len(f"{k} {c}") for k, c in enumerate(class_names)])
    lines = [f"{corner:<{label}} " + "".join(f"{k:>{width}}" for k in range(n))]
    for k, name in enumerate(class_names):
        lines.append(f"{f'{k} {name}':<{label}} " + "".join(f"{v:>{width}}" for v in confusion[k]))
    return "\n".join(lines)


def report(result, class_names, split, n):
    correct = int(result["confusion"].trace())
    print(f"eval: {FLAGS.graph} on the {split} split of {FLAGS.data}")
    print(f"accuracy: {result['accuracy']:.4f} ({correct}/{n} clips)")
    print("per-class accuracy:")
    name_width = max(len(c) for c in class_names)
    for k, (name, acc) in enumerate(zip(class_names, result["per_class_accuracy"])):
        row = result["confusion"][k]
        shown = "   n/a (no clips)" if acc is None else f"{acc:.4f} ({row[k]}/{row.sum()})"
        print(f"  {name:<{name_width}}  {shown}")
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(confusion_table(result["confusion"], class_names))


def run():
    if not os.path.isfile(FLAGS.graph):  # checked before TensorFlow's slow start
        raise FileNotFoundError(
            f"no frozen graph at {FLAGS.graph}: make one with python3 freeze_graph.py"
        )
    splits, class_names = urbansound.load_dataset(FLAGS.data, FLAGS.allow_pickle)
    x, y = splits[FLAGS.split]
    if len(x) == 0:
        raise ValueError(f"the {FLAGS.split} split of {FLAGS.data} is empty: nothing to evaluate")
    import_tensorflow_quietly()
    from tfam.audio import spectrogram
    from tfam.train import freeze  # after the quiet import: they load TensorFlow

    graph = freeze.load_frozen(FLAGS.graph, FLAGS.input_node, FLAGS.output_node)
    if graph.input_shape == WAVEFORM:
        predict = graph
    elif graph.input_shape == SPECTROGRAM:

        def predict(batch):
            return graph(spectrogram.seed_spectrogram(batch).numpy())
    else:
        raise ValueError(
            f"the graph's input {FLAGS.input_node!r} has shape {graph.input_shape}; "
            f"eval.py feeds waveforms {WAVEFORM} or spectrograms {SPECTROGRAM}"
        )
    n_logits = graph.output_shape[-1] if graph.output_shape else None
    if n_logits is not None and n_logits != len(class_names):
        raise ValueError(
            f"the graph gives {n_logits} logits but {FLAGS.data} has "
            f"{len(class_names)} classes ({', '.join(class_names)})"
        )

    result = freeze.evaluate(predict, x, y, len(class_names), FLAGS.batch_size)
    report(result, class_names, FLAGS.split, len(y))
    if FLAGS.json:
        from tfam.outputs import write_json

        write_json(
            FLAGS.json,
            {
                "graph": FLAGS.graph,
                "data": FLAGS.data,
                "split": FLAGS.split,
                "clips": len(y),
                "accuracy": result["accuracy"],
                "class_names": class_names,
                "per_class_accuracy": dict(zip(class_names, result["per_class_accuracy"])),
                "confusion": result["confusion"].tolist(),
            },
        )


def main(argv):
    if len(argv) != 1:
        fail(
            f"unexpected argument {argv[1]!r}; usage: eval.py [--graph PATH] [--data PATH] "
            "[--allow_pickle] [--split test|validate|train] [--input_node NAME] "
            "[--output_node NAME] [--json PATH]"
        )
    if FLAGS.batch_size < 1:
        fail("--batch_size must be at least 1")
    run_guarded(run)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_absl_flags)
