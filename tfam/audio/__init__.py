"""Sound: WAV in and out (``wav``, whose functions are re-exported here: ``tfam.audio.read_wav``),
the spectrogram and log-mel front ends (``spectrogram``, ``mel``), dreams of sounds
(``sound_dreams``) and the salient part of a clip (``salient``).

Only ``wav`` loads with the package (numpy and scipy): the data tools start in a fraction of a
second; the front ends import TensorFlow when they are imported.
"""

from tfam.audio.wav import (
    NON_FINITE,
    SAMPLE_FORMATS,
    load_audio,
    read_wav,
    read_wav_raw,
    resample,
    to_float,
    to_mono,
    write_pcm,
    write_wav,
)

__all__ = [
    "NON_FINITE",
    "SAMPLE_FORMATS",
    "load_audio",
    "read_wav",
    "read_wav_raw",
    "resample",
    "to_float",
    "to_mono",
    "write_pcm",
    "write_wav",
]
