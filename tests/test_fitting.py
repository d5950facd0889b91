"""One way to fit a clip to a model (tfam.audio.fitting): centre crop or --offset, padding, mix-down,
resampling, a warning when the model cannot hear most of the clip; deepdream and explain agree."""

import types

import numpy as np
import pytest

from tfam import audio
from tfam.audio.fitting import energy_above, fit_clip, fit_length, read_clip
from tfam.layout import layout_of


def test_fit_length_takes_the_centre_or_an_offset_and_pads_short_clips():
    x = np.arange(10, dtype=np.float32)
    assert fit_length(x, 10) == (pytest.approx(x), 0, None)
    cropped, start, note = fit_length(x, 4)
    assert cropped.tolist() == [3, 4, 5, 6] and start == 3 and "its centre" in note
    cropped, start, note = fit_length(x, 4, offset_seconds=0.5, rate=10)
    assert (
        cropped.tolist() == [5, 6, 7, 8] and start == 5 and "0.500-0.900 s, from --offset" in note
    )
    padded, start, note = fit_length(x, 12)
    assert padded.tolist() == x.tolist() + [0, 0] and "zero-padded at the end" in note
    assert fit_length(x, None)[0].tolist() == x.tolist()  # a model of any length: whole
    with pytest.raises(ValueError, match="last offset that fits is 0.600"):
        fit_length(x, 4, offset_seconds=0.7, rate=10)
    with pytest.raises(ValueError, match="no longer than"):
        fit_length(x, 12, offset_seconds=0.1, rate=10)
    with pytest.raises(ValueError, match="takes any"):
        fit_length(x, None, offset_seconds=0.1, rate=10)
    with pytest.raises(ValueError, match="0 or more"):
        fit_length(x, 4, offset_seconds=-1, rate=10)


def test_fit_clip_notes_mix_down_and_resampling():
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 300 * t), 0.5 * np.sin(2 * np.pi * 300 * t)], 1)
    clip = fit_clip(stereo, 44100, 8000, 4000)
    assert clip.x.shape == (4000,) and clip.x.dtype == np.float32 and clip.start == 2000
    assert clip.notes[0] == "the WAV has 2 channels: mixed down to mono"
    assert clip.notes[1] == "the WAV is at 44100 Hz; the model hears 8000 Hz: resampled"
    assert "1 s; the model takes 0.5 s: using 0.250-0.750 s" in clip.notes[2]
    assert not any(n.startswith("warning") for n in clip.notes)  # 300 Hz: all of it heard
    # band-limited resampling keeps the tone's level (RMS of a sine of peak 0.75: 0.53)
    assert np.sqrt(np.mean(clip.x**2)) == pytest.approx(0.75 / np.sqrt(2), rel=0.01)


def test_a_clip_the_model_cannot_hear_is_warned_about():
    # an alarm at 48 kHz whose energy lies above 4 kHz: an 8 kHz model hears almost nothing of it
    t = np.arange(48000) / 48000
    alarm = 0.5 * np.sin(2 * np.pi * 6000 * t) + 0.01 * np.sin(2 * np.pi * 1000 * t)
    assert energy_above(alarm, 48000, 4000) > 0.99
    clip = fit_clip(alarm, 48000, 8000, 8000)
    warning = [n for n in clip.notes if n.startswith("warning:")]
    assert len(warning) == 1 and "99.96% of the clip's energy lies above 4000 Hz" in warning[0]
    assert np.sqrt(np.mean(clip.x**2)) < 0.01  # what is left: the quiet 1 kHz tone
    assert not [n for n in fit_clip(alarm, 48000, 16000, 16000).notes if "warning" in n]


def test_deepdream_and_explain_fit_a_clip_identically(tmp_path):
    from tfam.cli import deepdream, explain

    t = np.arange(3 * 22050) / 22050
    path = tmp_path / "clip.wav"
    audio.write_wav(path, 0.3 * np.stack([np.sin(2 * np.pi * 200 * t)] * 2, 1), 22050)
    for offset in (None, 0.4):
        dreamt, dream_notes, _ = deepdream.load_waveform(
            path, 8000, (16000,), layout_of((None, 16000)), offset
        )
        heard = explain.read_clip(
            path, types.SimpleNamespace(sample_rate=8000, samples=16000), offset
        )
        np.testing.assert_array_equal(dreamt, heard.x)
        assert dream_notes == list(heard.notes) and len(dream_notes) == 3
    assert read_clip(path, 8000, 16000, 0.4).start == 3200
