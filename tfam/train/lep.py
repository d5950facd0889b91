"""Label Embeddings Projection (seed 003): a linear layer maps a classifier's logits to the size of a
word embedding, and training regresses it onto the embedding of the true class's name:

    loss = (1 - weight) * cross_entropy(labels, logits) + weight * MSE(projection(logits), E[label])

E[c] is the mean of the word vectors of class c's name, split into words on "_", "-" and spaces
and lower-cased ("children_playing" -> children, playing). MSE is the mean over the embedding's
dimensions. The classifier keeps its one logits output; the projection is a separate layer.

Word-vector files (no pickle is ever loaded):
    GloVe text (any name but .npy/.npz): one "word v1 v2 ... vd" per line, UTF-8; a first line
        "count dim" (word2vec / fastText .vec) is skipped. Words match case-insensitively; the
        first line of a word wins (GloVe files are sorted by frequency).
    .npz: an array "words" (n,) of strings and an array "vectors" (n, d) of floats.
    .npy: a (n_classes, d) float array: the class embeddings themselves, one row per class in the
        dataset's class order (no words to look up).

Reading needs NumPy only; the Keras parts import TensorFlow when called.
"""

import os
import re

import numpy as np


def words_of(class_name):
    """The lower-cased words of a class name: 'air_conditioner' -> ['air', 'conditioner']."""
    return [w for w in re.split(r"[_\-\s]+", class_name.lower()) if w]


def _check_file(path):
    if not path:
        raise ValueError("no word-vector file given")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no word-vector file at {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a word-vector file")


def read_glove(path, words=None):
    """{word: float32 vector} from a GloVe text file: only ``words`` (lower-case) when given, and
    reading stops once all of them are found (a 400,000-word file is read only as far as needed)."""
    _check_file(path)
    wanted = None if words is None else set(words)
    vectors, dim = {}, None
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                parts = line.rstrip("\n").rstrip().split(" ")
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue  # word2vec / fastText header: "count dim"
                if len(parts) < 2:
                    if not line.strip():
                        continue
                    raise ValueError(f"line {number} has a word but no vector")
                if dim is None:
                    dim = len(parts) - 1
                elif len(parts) - 1 < dim:
                    raise ValueError(
                        f"line {number} has {len(parts) - 1} values, the first had {dim}"
                    )
                # the last dim fields are the vector: a few words of glove.840B hold spaces
                word = " ".join(parts[: len(parts) - dim]).lower()
                if word in vectors or (wanted is not None and word not in wanted):
                    continue
                try:
                    vectors[word] = np.array(parts[len(parts) - dim :], np.float32)
                except ValueError:
                    raise ValueError(f"line {number} holds a value that is not a number") from None
                if wanted is not None and wanted <= vectors.keys():
                    break
    except UnicodeDecodeError:
        raise ValueError(
            f"{path} is not GloVe text (word v1 v2 ... per line): not UTF-8 text"
        ) from None
    except ValueError as error:
        raise ValueError(f"{path} is not GloVe text (word v1 v2 ... per line): {error}") from None
    if dim is None:
        raise ValueError(f"{path} holds no word vectors")
    return vectors


def read_npz(path, words=None):
    """{word: float32 vector} from an .npz with arrays ``words`` (n,) and ``vectors`` (n, d)."""
    _check_file(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            names, values = data["words"], data["vectors"]
    except KeyError as error:
        raise ValueError(f"{path} needs arrays 'words' and 'vectors': missing {error}") from None
    except (OSError, ValueError, EOFError) as error:  # not an .npz, or an object (pickled) array
        raise ValueError(f"{path} is not a readable .npz of words and vectors: {error}") from None
    if (
        names.ndim != 1
        or values.ndim != 2
        or len(names) != len(values)
        or names.dtype.kind not in "US"
        or values.dtype.kind not in "fi"
    ):
        raise ValueError(
            f"{path}: expected words (n,) strings and vectors (n, d) numbers, got "
            f"{names.dtype} {names.shape} and {values.dtype} {values.shape}"
        )
    wanted = None if words is None else set(words)
    vectors = {}
    for name, value in zip(names.astype(str), values):
        word = name.lower()
        if word not in vectors and (wanted is None or word in wanted):
            vectors[word] = value.astype(np.float32)
    return vectors


def class_embeddings(class_names, path):
    """(n_classes, d) float32: each class name's embedding (the mean of its words' vectors) from the
    word-vector file at ``path``. Raises one ValueError naming every class that lacks words."""
    class_names = list(class_names)
    _check_file(path)
    if path.endswith(".npy"):
        return _npy_embeddings(class_names, path)
    words = {c: words_of(c) for c in class_names}
    for c, w in words.items():
        if not w:
            raise ValueError(f"class name {c!r} has no words to embed")
    needed = {w for ws in words.values() for w in ws}
    vectors = read_npz(path, needed) if path.endswith(".npz") else read_glove(path, needed)
    missing = {c: [w for w in ws if w not in vectors] for c, ws in words.items()}
    missing = {c: ws for c, ws in missing.items() if ws}
    if missing:
        listed = "; ".join(f"{c} ({', '.join(ws)})" for c, ws in missing.items())
        raise ValueError(f"{path} has no vector for the words of: {listed}")
    rows = np.stack([np.mean([vectors[w] for w in words[c]], axis=0) for c in class_names])
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"{path} holds values that are not finite")
    return rows.astype(np.float32)


def _npy_embeddings(class_names, path):
    try:
        rows = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path} is not a readable .npy array: {error}") from None
    if rows.ndim != 2 or rows.shape[0] != len(class_names) or rows.dtype.kind not in "fi":
        raise ValueError(
            f"{path}: a .npy holds the class embeddings, one row per class: expected "
            f"({len(class_names)}, d) numbers, got {rows.dtype} {rows.shape}"
        )
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"{path} holds values that are not finite")
    return rows.astype(np.float32)


def write_glove(path, vectors):
    """Write {word: vector} as GloVe text (atomically: a temporary file, then rename)."""
    from tfam.outputs import atomic_write

    with atomic_write(path, "w") as f:
        for word, vector in vectors.items():
            f.write(
                word + " " + " ".join(f"{v:.6g}" for v in np.asarray(vector, np.float64)) + "\n"
            )


# --- the head and the loss -------------------------------------------------------------------------
def projection_layer(embedding_dim, name="lep_projection"):
    """The LEP head: a linear map from the logits to the embedding space."""
    import keras

    return keras.layers.Dense(embedding_dim, name=name)


def projection_model(projection, n_classes):
    """A one-layer model logits (B, n_classes) -> (B, d) around a trained ``projection`` layer, to
    save beside the classifier (which keeps a single logits output)."""
    import keras

    inputs = keras.Input((n_classes,), name="logits")
    return keras.Model(inputs, projection(inputs), name="lep_projection")


def lep_loss(labels, logits, projected, embeddings, weight):
    """Per-example (total, cross_entropy, mse): total = (1 - weight) * cross_entropy + weight * mse,
    mse = mean over dimensions of (projected - embeddings[labels])**2."""
    import tensorflow as tf

    labels = tf.convert_to_tensor(labels)
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    targets = tf.gather(tf.convert_to_tensor(embeddings, tf.float32), labels)
    mse = tf.reduce_mean(tf.square(projected - targets), axis=-1)
    return (1.0 - weight) * cross_entropy + weight * mse, cross_entropy, mse
