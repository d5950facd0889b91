"""Fréchet distance between two sets of classifier features (as FID does with Inception features;
seed 000 used its emotion classifier's features, per class): how far dreams are from real clips.

    d² = |mu_a - mu_b|² + trace(C_a + C_b - 2 (C_a C_b)^½)
"""

import numpy as np
from scipy import linalg


def frechet_distance(features_a, features_b, epsilon=1e-6):
    """Fréchet distance between Gaussians fitted to two (N, D) feature sets (N >= 2 each)."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, D) with the same D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Fréchet distance needs at least two examples in each set")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    offset = epsilon * np.eye(len(cov_a))  # few examples: singular covariances
    root, _ = linalg.sqrtm((cov_a + offset) @ (cov_b + offset), disp=False)
    root = root.real  # numerical noise gives tiny imaginary parts
    value = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * root)
    return float(max(value, 0.0))


def feature_extractor(model, layer=None):
    """(batch -> features) from ``layer`` (default: the input of the last layer, i.e. the
    penultimate representation)."""
    import keras

    if layer is None:
        tensor = model.layers[-1].input
    else:
        tensor = model.get_layer(layer).output
    sub = keras.Model(model.inputs, tensor)
    return lambda x: np.reshape(sub.predict(x, verbose=0), (len(x), -1))
