"""Tone classes for the attribution and salient-audio tests: class c is a steady tone at TONES[c]."""

import numpy as np

RATE = 8000
TONES = (600.0, 1800.0, 3000.0)


def tone_clips(per_class, seed, samples=32000, noise_class=False):
    """Class c: a steady tone at TONES[c] (+-3 %) in white noise; with ``noise_class``, class
    len(TONES) is the noise alone (so that a model cannot tell one tone by the others' absence)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / RATE
    labels = np.repeat(np.arange(len(TONES) + bool(noise_class)), per_class)
    clips = []
    for c in labels:
        shift, phase = rng.uniform(0.97, 1.03), rng.uniform(0, 6.3)
        tone = 0.3 * np.sin(2 * np.pi * TONES[c] * shift * t + phase) if c < len(TONES) else 0.0
        clips.append(tone + 0.1 * rng.standard_normal(samples))
    return np.array(clips, np.float32), labels
