"""Handwritten digits: MNIST from a local Keras-format mnist.npz, or the embedded offline stand-in.

The stand-in is scikit-learn's bundled 8x8 digits (1,797 images, shipped inside the package, so it
needs no network), enlarged to 20x20 and centred in 28x28 like MNIST's digits.
"""

import os

import numpy as np

CLASS_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DEFAULT_MNIST = os.path.join("~", ".keras", "datasets", "mnist.npz")


def embedded_digits(test_fraction=0.2, seed=0):
    """(x_train, y_train), (x_test, y_test): 28x28x1 float32 images in [0, 1], int labels."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    digits = load_digits()
    small = digits.images.astype(np.float32) / 16.0
    big = zoom(small, (1, 20 / 8, 20 / 8), order=1)  # bilinear, 8x8 -> 20x20
    images = np.zeros((len(small), 28, 28, 1), np.float32)
    images[:, 4:24, 4:24, 0] = np.clip(big, 0.0, 1.0)
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = int(len(images) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])


def load_mnist(path=DEFAULT_MNIST):
    """(x_train, y_train), (x_test, y_test) from a Keras-format mnist.npz, as 28x28x1 floats in [0, 1]."""
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"MNIST not found at {path}: put the Keras-format mnist.npz there (keys x_train, y_train, "
            "x_test, y_test) or pass its path; without it tfam uses the embedded digits"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = [data[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except KeyError as error:
        raise ValueError(f"{path} is not a Keras-format mnist.npz: missing {error}") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable .npz file: {error}") from None
    x_train, y_train, x_test, y_test = arrays
    for name, x in (("x_train", x_train), ("x_test", x_test)):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(f"{path}: {name} has shape {x.shape}, expected (N, 28, 28)")

    def scale(x):
        return (x.astype(np.float32) / 255.0)[..., None]

    return (scale(x_train), y_train.astype(np.int64)), (scale(x_test), y_test.astype(np.int64))
