"""Deep dream in time-sized calls (issue 11): chunks of steps and steps in parts give the one-call
result; the per-tile objective; a real SIGINT stops ``tfam deepdream`` on a long clip."""

import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from scipy.io import wavfile

from tfam import deep_dream as dd
from tfam.pacing import Pace

RATE = 8000
ONE_CALL = Pace(first=10**6, limit=10**6)  # every octave's steps in one compiled call


def wave_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, 1))
    x = keras.layers.Conv1D(6, 9, strides=2, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Conv1D(6, 9, strides=2, padding="same", activation="relu", name="c2")(x)
    return keras.Model(inputs, x)


def image_model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c2")(x)
    return keras.Model(inputs, x)


CASES = {  # model, start, tile size; tile_batch 2
    "waveform, 25 tiles": (wave_model, (10_000,), 400),
    "image, 9 tiles": (image_model, (20, 20, 3), 8),
    "waveform, no tiles": (wave_model, (3_000,), None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_calls_of_any_size_give_the_one_call_result(case):
    build, shape, tile = CASES[case]
    model = build()
    start = np.random.default_rng(2).uniform(0.2, 0.8, shape).astype(np.float32)
    kw = dict(
        steps=4,
        step_size=0.05,
        octaves=(-1, 0),
        tile_size=tile,
        tile_batch=2,
        value_range=(0.0, 1.0),
        seed=7,
    )
    one_call = dd.deepdream(model, "c2", start, pace=ONE_CALL, **kw)
    # 1 and 3 groups per call: steps in parts; 26 groups: two whole steps (13 groups) per call
    for pace in (Pace(first=1, limit=1), Pace(first=3, limit=3), Pace(first=26, limit=26), Pace()):
        np.testing.assert_array_equal(dd.deepdream(model, "c2", start, pace=pace, **kw), one_call)
    (dreamer,) = dd._dreamers[model].values()
    for function in (
        dreamer._run,
        dreamer._cut_step,
        dreamer._group_gradients,
        dreamer._apply_step,
    ):
        assert function.experimental_get_tracing_count() <= 1  # new sizes and counts: no retrace


def test_run_in_parts_equals_the_compiled_call():
    model = wave_model()
    x = np.random.default_rng(3).normal(0, 0.1, (5_000, 1)).astype(np.float32)
    dreamer = dd.DeepDream(
        model,
        dd._as_objective("c1"),
        dd.layout_of((None, None, 1)),
        1,
        tile_size=(500,),
        tile_batch=3,
    )
    assert dreamer.groups([5_000]) == 4
    whole, value = dreamer(x, 3, 0.02, 5, 1)
    parts, parts_value = dreamer.run(x, 3, 0.02, 5, 1, pace=Pace(first=1, limit=1))
    np.testing.assert_array_equal(parts.numpy(), whole.numpy())
    assert float(parts_value) == float(value)  # the objective sums in the same order too


def test_tiled_objective_is_the_mean_over_tiles():
    model = wave_model()
    x = np.random.default_rng(4).normal(0, 0.3, (1_000, 1)).astype(np.float32)
    features = keras.Model(model.inputs[0], model.get_layer("c2").output)

    def mean_square(tile):
        return float(np.mean(np.square(features(tile[None]).numpy())))

    assert dd.tiled_objective(model, "c2", x) == pytest.approx(mean_square(x), rel=1e-5)
    tiles = [x[:400], x[400:800], np.concatenate([x[800:], x[:-201:-1]])]  # last: mirror-padded
    assert dd.tiled_objective(model, "c2", x, tile_size=400) == pytest.approx(
        np.mean([mean_square(t) for t in tiles]), rel=1e-5
    )


def test_ctrl_c_stops_a_long_deep_dream(tmp_path):
    model = tmp_path / "wave.keras"
    wave_model().save(model)
    clip = tmp_path / "long.wav"
    wavfile.write(clip, RATE, (0.3 * np.sin(np.arange(60 * RATE) / 5.0)).astype(np.float32))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tfam.cli",
            "deepdream",
            str(model),
            str(clip),
            "--layer",
            "c2",
            "--tile-size",
            "4000",
            "--steps",
            "1000000",
            "--octaves",
            "1",
            "--out",
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        os.set_blocking(process.stdout.fileno(), False)
        os.set_blocking(process.stderr.fileno(), False)
        deadline = time.monotonic() + 60  # TensorFlow's import on a loaded machine
        while not process.stdout.read(1):  # the "dreaming ..." line
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "tfam deepdream printed nothing"
            time.sleep(0.05)
        time.sleep(2.5)  # past the tracing, into the compiled calls
        assert process.poll() is None, process.stderr.read()
        err = process.stderr.read() or b""
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        while b"tfam: interrupted" not in err and time.monotonic() < sent + 30:
            err += process.stderr.read() or b""
            time.sleep(0.01)
        noticed = time.monotonic() - sent
        process.wait(timeout=30)
        exited = time.monotonic() - sent
        err = (err + (process.stderr.read() or b"")).decode()
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "tfam: interrupted", err
    assert noticed < 1.0, noticed  # the dream's calls take about 0.5 s
    # The rest is the interpreter's exit with TensorFlow loaded, not the dream's: 1-1.6 s of CPU
    # (measured: importing TensorFlow and exiting at once), 2-4 s on a busy 2-core machine.
    assert exited < noticed + 8.0, exited
    assert not (tmp_path / "out" / "summary.json").exists()
