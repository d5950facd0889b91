"""Tone classes for the attribution and salient-audio tests: class c is a steady tone at TONES[c]."""
import numpy as np

RATE = 8000
TONES = (600.0, 1800.0, 3000.0)


def tone_clips(per_class, seed, samples=32000):
    """Class c: a steady tone at TONES[c] (+-3 %) in white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / RATE
    labels = np.repeat(np.arange(len(TONES)), per_class)
    clips = [0.3 * np.sin(2 * np.pi * TONES[c] * rng.uniform(0.97, 1.03) * t + rng.uniform(0, 6.3))
             + 0.1 * rng.standard_normal(samples) for c in labels]
    return np.array(clips, np.float32), labels
