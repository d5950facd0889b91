import struct

import numpy as np
import pytest
from scipy.io import wavfile

from tfam import audio


def wav_24bit(values, rate, channels=1):
    """A 24-bit PCM WAV built byte by byte (scipy cannot write 24-bit)."""
    raw = b"".join(struct.pack("<i", int(v))[:3] for v in np.ravel(values))
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 3 * channels, 3 * channels, 24)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", len(raw))
        + raw
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


INT16 = np.array([0, 1, -1, 12345, -32768, 32767], np.int16)


@pytest.mark.parametrize(
    "stored, expected",
    [
        (np.array([0, 128, 255, 64], np.uint8), [-1.0, 0.0, 127 / 128, -0.5]),  # 8-bit is unsigned
        (INT16, INT16 / 32768.0),
        (
            np.array([0, 2**30, -(2**31), 2**31 - 1], np.int32),
            [0.0, 0.5, -1.0, (2**31 - 1) / 2**31],
        ),
        (np.array([0.0, 0.25, -1.0, 0.999], np.float32), [0.0, 0.25, -1.0, 0.999]),
        (np.array([0.0, -0.5, 1.0], np.float64), [0.0, -0.5, 1.0]),
    ],
)
def test_read_wav_of_each_scipy_sample_type(tmp_path, stored, expected):
    path = tmp_path / "x.wav"
    wavfile.write(path, 11025, stored)
    x, rate = audio.read_wav(path)
    assert rate == 11025 and x.dtype == np.float32 and x.shape == (len(stored),)
    np.testing.assert_allclose(x, expected, atol=1e-7)


def test_read_wav_24_bit(tmp_path):
    values = [0, 1, -1, 2**22, -(2**23), 2**23 - 1]
    path = tmp_path / "x24.wav"
    path.write_bytes(wav_24bit(values, 44100))
    x, rate = audio.read_wav(path)
    assert rate == 44100 and x.dtype == np.float32
    np.testing.assert_allclose(x, np.array(values) / 2**23, atol=1e-9)


def test_read_wav_24_bit_stereo(tmp_path):
    values = np.array([[100, -100], [2**23 - 1, -(2**23)], [0, 4096]])
    path = tmp_path / "x24s.wav"
    path.write_bytes(wav_24bit(values, 48000, channels=2))
    x, _ = audio.read_wav(path)
    assert x.shape == (3, 2)
    np.testing.assert_allclose(x, values / 2**23, atol=1e-9)


@pytest.mark.parametrize(
    "sample_format, step",
    [
        ("uint8", 1 / 128),
        ("int16", 1 / 32768),
        ("int24", 1 / 2**23),
        ("int32", 1e-7),
        ("float32", 1e-7),
    ],
)
def test_write_pcm_round_trips_each_format(tmp_path, sample_format, step):
    x = np.random.default_rng(0).uniform(-1, 1, (500, 2))
    path = tmp_path / f"{sample_format}.wav"
    audio.write_pcm(path, x, 16000, sample_format)
    y, rate = audio.read_wav(path)
    assert rate == 16000 and y.shape == (500, 2)
    assert np.max(np.abs(y - x)) <= step  # within one quantization step
    if sample_format == "int24":  # and byte-identical to the independent writer above
        pcm = np.clip(np.round(x * 2**23), -(2**23), 2**23 - 1)
        assert path.read_bytes() == wav_24bit(pcm, 16000, channels=2)


def test_write_pcm_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="unknown sample format 'int12'"):
        audio.write_pcm(tmp_path / "x.wav", np.zeros(4), 8000, "int12")


def test_to_mono_is_the_mean_of_channels():
    x = np.array([[1.0, 0.0], [0.5, -0.5], [-1.0, -0.5]], np.float32)
    np.testing.assert_allclose(audio.to_mono(x), [0.5, 0.0, -0.75])
    assert audio.to_mono(np.ones(3)).shape == (3,)


def peak_hz(x, rate):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)]


@pytest.mark.parametrize(
    "rate_in, rate_out",
    [(44100, 8000), (22050, 8000), (11025, 8000), (48000, 8000), (8000, 16000), (8000, 8000)],
)
def test_resample_keeps_frequency_and_length_ratio(rate_in, rate_out):
    t = np.arange(int(2.0 * rate_in)) / rate_in
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    y = audio.resample(x, rate_in, rate_out)
    assert y.dtype == np.float32 and len(y) == int(2.0 * rate_out)
    assert abs(peak_hz(y, rate_out) - 440) < 1.0
    assert abs(np.std(y[200:-200]) - np.std(x)) < 0.01  # pass band: level kept


def test_resample_band_limits():
    rate = 44100
    t = np.arange(2 * rate) / rate
    tone = np.sin(2 * np.pi * 6000 * t)  # above the 4 kHz Nyquist of 8 kHz: must vanish, not alias
    y = audio.resample(tone, rate, 8000)
    attenuation_db = 20 * np.log10(np.std(y[200:-200]) / np.std(tone))
    assert attenuation_db < -40


def test_resample_stereo_along_time_axis():
    x = np.random.default_rng(1).standard_normal((1000, 2))
    y = audio.resample(x, 16000, 8000)
    assert y.shape == (500, 2)


def test_load_audio_mixes_and_resamples(tmp_path):
    rate = 22050
    t = np.arange(rate) / rate
    stereo = np.stack([np.sin(2 * np.pi * 300 * t), np.sin(2 * np.pi * 300 * t)], axis=1) * 0.5
    path = tmp_path / "s.wav"
    audio.write_pcm(path, stereo, rate, "int24")
    y = audio.load_audio(path, 8000)
    assert y.shape == (8000,) and abs(peak_hz(y, 8000) - 300) < 1.5
    assert audio.load_audio(path, 8000, mono=False).shape == (8000, 2)


GOOD = wav_24bit([1, 2, 3, 4, 5, 6], 8000)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a readable WAV file"),
        (b"this is not a wav file at all", "not a readable WAV file"),
        (b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk", "not a readable WAV file"),
        (GOOD[:-7], "is truncated"),
        (GOOD[:40], "not a readable WAV file"),  # cut inside the header
        (wav_24bit([], 8000), "holds no samples"),
    ],
)
def test_bad_wav_files_give_one_clear_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad file.wav"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        audio.read_wav(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such WAV file: .*missing.wav"):
        audio.read_wav(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="is a directory"):
        audio.read_wav(tmp_path)


def test_resample_rejects_bad_rates():
    with pytest.raises(ValueError, match="positive"):
        audio.resample(np.zeros(10), 0, 8000)
