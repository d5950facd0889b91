"""WAV files in and out, mono mixing and band-limited resampling (numpy/scipy only).

Everything here is plain numpy/scipy so that the dataset tools start in a fraction of a second;
the spectrogram front ends that need gradients live in Keras layers, not here.

    x, rate = read_wav("dog.wav")            # float32 in [-1, 1], (samples,) or (samples, channels)
    x = load_audio("dog.wav", 8000)          # mono, resampled to 8 kHz
"""

import logging
import math
import os
import struct
import warnings

import numpy as np

from tfam.outputs import atomic_write

# Scale of each stored integer type: full scale maps to [-1, 1). 24-bit PCM arrives left-justified
# in int32 (scipy shifts it up), so it shares int32's scale.
_INT_SCALE = {np.dtype(np.int16): 2.0**15, np.dtype(np.int32): 2.0**31, np.dtype(np.int64): 2.0**63}
SAMPLE_FORMATS = ("uint8", "int16", "int24", "int32", "float32")


def _declared_data_bytes(path):
    """(offset of the data chunk's payload, its declared size), or None if the chunks can't be walked.

    scipy returns a short array (with only a warning) when the data chunk is cut off, so the
    truncation check compares the declared size against what the file really holds."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None  # RIFX / RF64 / broken: scipy decides
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                return f.tell(), size
            f.seek(size + (size & 1), os.SEEK_CUR)  # chunks are padded to even sizes


def read_wav_raw(path):
    """(rate, samples as stored): uint8, int16, int32 (24/32-bit, left-justified), int64, float32/64.

    Every failure is a FileNotFoundError or ValueError naming the file."""
    from scipy.io import wavfile

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such WAV file: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a WAV file")
    try:
        chunk = _declared_data_bytes(path)
    except OSError as error:
        raise ValueError(f"cannot read WAV file {path}: {error.strerror or error}") from None
    if chunk is not None:
        offset, declared = chunk
        available = os.path.getsize(path) - offset
        if declared != 0xFFFFFFFF and available < declared:  # 0xFFFFFFFF: size unknown (streamed)
            raise ValueError(
                f"{path} is truncated: its data chunk declares {declared} bytes but "
                f"the file holds {available}"
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # unknown chunks and odd headers are common and harmless
            rate, data = wavfile.read(path)
        data = np.asarray(data)  # scipy may hand back a memmap
    except OSError as error:
        raise ValueError(f"cannot read WAV file {path}: {error.strerror or error}") from None
    except Exception as error:  # scipy raises ValueError, struct.error, even UnboundLocalError
        raise ValueError(f"{path} is not a readable WAV file ({error})") from None
    if data.size == 0:
        raise ValueError(f"{path} holds no samples")
    if rate <= 0:
        raise ValueError(f"{path} has an invalid sample rate {rate}")
    return int(rate), data


def to_float(data):
    """Stored samples (any WAV sample type) as float32: integers scaled to [-1, 1], floats as stored."""
    if data.dtype == np.uint8:  # 8-bit WAV is unsigned, centred on 128
        return (data.astype(np.float32) - 128.0) / 128.0
    if data.dtype in _INT_SCALE:
        return (data.astype(np.float64) / _INT_SCALE[data.dtype]).astype(np.float32)
    if data.dtype.kind == "f":
        return data.astype(np.float32)  # as stored: read_wav checks for NaN and clips
    raise ValueError(f"unsupported WAV sample type {data.dtype}")


NON_FINITE = ("refuse", "zero")


def read_wav(path, non_finite="refuse"):
    """(float32 samples in [-1, 1], rate): shape (samples,) for mono, (samples, channels) otherwise.

    A float WAV can hold NaN or infinite samples; ``non_finite="refuse"`` raises a ValueError naming
    the first one, ``"zero"`` replaces them by silence with a warning."""
    if non_finite not in NON_FINITE:
        raise ValueError(f"non_finite must be one of {NON_FINITE}, got {non_finite!r}")
    rate, data = read_wav_raw(path)
    x = to_float(data)
    bad = ~np.isfinite(x)
    if bad.any():
        frames = bad.reshape(len(x), -1).any(axis=1)
        first, count = int(np.argmax(frames)), int(frames.sum())
        where = (
            f"{count} NaN or infinite sample(s), the first at sample {first} ({first / rate:.3f} s)"
        )
        if non_finite == "refuse":
            raise ValueError(f"{path} holds {where}; --zero-non-finite replaces them by silence")
        logging.getLogger("tfam").warning("tfam: %s holds %s: replaced by silence", path, where)
        x = np.where(bad, np.float32(0.0), x)
    return np.clip(x, -1.0, 1.0), rate


def to_mono(x):
    """Mean of the channels; a 1-D array is already mono."""
    x = np.asarray(x, np.float32)
    return x if x.ndim == 1 else x.mean(axis=-1, dtype=np.float32)


def resample(x, rate_in, rate_out):
    """Band-limited resampling along axis 0 (polyphase FIR: anti-aliasing built in).

    The ratio is reduced by the gcd, so 44100 -> 8000 is up 80, down 441."""
    rate_in, rate_out = int(rate_in), int(rate_out)
    if rate_in <= 0 or rate_out <= 0:
        raise ValueError(f"sample rates must be positive, got {rate_in} -> {rate_out}")
    x = np.asarray(x, np.float32)
    if rate_in == rate_out:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(rate_in, rate_out)
    return resample_poly(x, rate_out // g, rate_in // g, axis=0).astype(np.float32)


def load_audio(path, rate, mono=True, non_finite="refuse"):
    """A WAV file as float32 in [-1, 1] at ``rate`` (mixed to mono first unless ``mono=False``)."""
    x, file_rate = read_wav(path, non_finite)
    if mono:
        x = to_mono(x)
    return resample(x, file_rate, rate)


def _int24_bytes(x, rate):
    """A complete 24-bit PCM WAV file: scipy writes 8/16/32-bit and float but not 24-bit."""
    pcm = np.round(np.clip(x, -1.0, 1.0) * 2.0**23).clip(-(2**23), 2**23 - 1).astype("<i4")
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    raw = pcm.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()  # low three bytes, little-endian
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 3 * channels, 3 * channels, 24)
    pad = b"\0" if len(raw) % 2 else b""
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(raw) + len(pad))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(raw))
        + raw
        + pad
    )


def write_pcm(path, waveform, rate, sample_format="int16"):
    """Write float samples in [-1, 1] as a WAV of ``sample_format`` (one of SAMPLE_FORMATS), atomically."""
    from scipy.io import wavfile

    x = np.asarray(waveform, np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"refusing to write {path}: the waveform holds NaN or infinite samples")
    clipped = int(np.count_nonzero(np.abs(x) > 1.0))
    if clipped:
        logging.getLogger("tfam").warning(
            "tfam: %s: %d sample(s) outside [-1, 1] (peak %.3g) clipped to full scale",
            path,
            clipped,
            np.abs(x).max(),
        )
        x = np.clip(x, -1.0, 1.0)
    if sample_format == "uint8":
        data = np.clip(np.round(x * 128.0 + 128.0), 0, 255).astype(np.uint8)
    elif sample_format == "int16":
        data = np.clip(np.round(x * 2.0**15), -(2**15), 2**15 - 1).astype(np.int16)
    elif sample_format == "int32":
        data = np.clip(np.round(x * 2.0**31), -(2**31), 2**31 - 1).astype(np.int32)
    elif sample_format == "float32":
        data = x.astype(np.float32)
    elif sample_format == "int24":
        with atomic_write(path) as f:
            f.write(_int24_bytes(x, int(rate)))
        return
    else:
        raise ValueError(
            f"unknown sample format {sample_format!r}; use one of {', '.join(SAMPLE_FORMATS)}"
        )
    with atomic_write(path) as f:
        wavfile.write(f, int(rate), data)


def write_wav(path, waveform, rate):
    """16-bit PCM WAV from float samples in [-1, 1], (samples,) or (samples, channels), atomically."""
    write_pcm(path, waveform, rate, "int16")
