"""Dreaming sounds: the recipe that makes a classifier's class audible, for raw-waveform models.

    result = dream_sounds(model, classes=range(9), sample_rate=8000)   # one 4 s waveform per class

The waveform itself is optimized (direct parameterization in [-1, 1]). What keeps it a sound and
not a spectrogram adversary: a random time shift each step (by default up to 0.16 s, the stride
between the frames seed 002's front end keeps, so that every sample is heard by some frame and not
only the 13 windows the model happens to sample; longer shifts smear bursts such as barks into
noise and the model no longer hears them: p(dog_bark) fell from 1.0 to 0.05 at 1 s), time-domain total
variation (no sample-to-sample fizz), a penalty on energy above a cutoff (the band that makes the
model fire, not hiss above it), and a loudness bound (RMS cap) projected after every update.
"""

import dataclasses

import numpy as np

from tfam import objectives, params, regularizers, transforms
from tfam.engine import dream


def audio_recipe(
    sample_rate,
    learning_rate=0.01,
    max_shift_seconds=0.16,
    tv=0.05,
    max_rms=0.1,
    high_band_weight=1.0,
    cutoff_hz=None,
    gain_db=0.0,
):
    """Keyword arguments for tfam.dream that keep a dreamed waveform listenable.

    ``cutoff_hz`` None: 7/8 of the Nyquist frequency. ``gain_db`` > 0 adds a random gain of up to
    that many decibels each step (for models that are not loudness-invariant); 0 turns a setting off
    for ``max_shift_seconds``, ``tv``, ``max_rms`` and ``high_band_weight`` too."""
    cutoff_hz = cutoff_hz if cutoff_hz is not None else 0.4375 * sample_rate
    shift = int(round(max_shift_seconds * sample_rate))
    chosen = [
        (shift > 0, "t", lambda: transforms.time_shift(shift)),
        (gain_db > 0, "t", lambda: transforms.gain(-gain_db, gain_db)),
        (tv > 0, "r", lambda: regularizers.total_variation(tv)),
        (
            high_band_weight > 0,
            "r",
            lambda: regularizers.high_band(high_band_weight, cutoff_hz, sample_rate),
        ),
        (max_rms > 0, "r", lambda: regularizers.loudness_bound(max_rms)),
    ]
    return dict(
        param=params.direct((-1.0, 1.0)),
        learning_rate=learning_rate,
        transforms=[make() for on, kind, make in chosen if on and kind == "t"],
        regularizers=[make() for on, kind, make in chosen if on and kind == "r"],
    )


def dream_sounds(
    model,
    classes,
    sample_rate=8000,
    steps=300,
    seed=0,
    verbose=0,
    callbacks=(),
    restarts=2,
    **recipe,
):
    """One dreamed waveform per class (indices; '1+7'-style sums as tuples), batched in one run.
    Returns tfam's Result: ``.x`` (classes, samples), ``.target_probability``, ``.history``.

    ``restarts`` rows start from different noise for every class, and the one the model hears most
    as its class is kept: a burst class such as dog_bark can stall in a poor start (p 0.01 from one
    start, 0.98 from another, same model and 300 steps), and a second row costs less than twice the
    steps."""
    classes = list(classes)
    if restarts < 1:
        raise ValueError(f"restarts must be at least 1, got {restarts}")
    result = dream(
        model,
        objectives.class_logit(classes * restarts),
        steps=steps,
        seed=seed,
        verbose=verbose,
        callbacks=callbacks,
        spatial_rank=1,
        **audio_recipe(sample_rate, **recipe),
    )
    if restarts == 1:
        return result
    n = len(classes)
    score = result.target_probability if result.probabilities is not None else result.history[-1]
    rows = np.arange(n) + n * np.argmax(np.reshape(score, (restarts, n)), axis=0)
    pick = lambda a: None if a is None else a[rows]  # noqa: E731
    return dataclasses.replace(
        result,
        x=result.x[rows],
        best_x=result.best_x[rows],
        best_value=result.best_value[rows],
        history=result.history[:, rows],
        params=result.params[rows],
        start_x=pick(result.start_x),
        probabilities=pick(result.probabilities),
        class_targets=None
        if result.class_targets is None
        else tuple(result.class_targets[r] for r in rows),
    )
