"""Building blocks that several of the zoo's models share."""

import keras
from keras import layers


def units(n, width):
    """``n`` channels scaled by ``width``, at least one."""
    return max(1, int(round(n * width)))


def label_input(n_classes):
    """The class input of a conditional model, or None when ``n_classes`` is None."""
    if n_classes is not None and n_classes < 1:
        raise ValueError(f"n_classes must be at least 1, got {n_classes}")
    return keras.Input((), dtype="int32", name="label") if n_classes else None


def generator_inputs(latent_dim, n_classes):
    """(model inputs, what the dense layer takes): z, or z with an embedding of the class input."""
    z = keras.Input((latent_dim,), name="z")
    label = label_input(n_classes)
    if label is None:
        return z, z
    embedded = layers.Embedding(n_classes, latent_dim, name="label_embedding")(label)
    return [z, label], layers.Concatenate(name="z_label")([z, embedded])


def projection_critic(features, label, n_classes):
    """dense(features) -> 1, plus <embedding(label), features> when conditional (Miyato & Koyama)."""
    critic = layers.Dense(1, name="critic" if label is None else "dense")(features)
    if label is None:
        return critic
    embedded = layers.Embedding(n_classes, features.shape[-1], name="class_embedding")(label)
    projection = layers.Dot(axes=1, name="projection")([embedded, features])
    return layers.Add(name="critic")([critic, projection])
