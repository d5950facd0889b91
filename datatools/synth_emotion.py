"""Make a synthetic stand-in for TESS and RAVDESS (speech emotion), in the real layouts.

    python3 datatools/synth_emotion.py OUT_ROOT [--tess_words 10] [--ravdess_clips 1] [--seed 0]
        [--ravdess_actors 1,2,...,24]

Writes OUT_ROOT/TESS/<real folder>/SPEAKER_WORD_EMOTION.wav (OAF and YAF, seven emotions, the
first N of the 200 TESS words; mostly 24414 Hz like the real set) and
OUT_ROOT/RAVDESS/Actor_01..Actor_24/03-01-EE-II-SS-RR-AA.wav (all eight emotion codes; each
actor at 48000, 24000 or 16000 Hz). The voices are synthetic (a glottal pulse train through
formant resonators) whose emotions differ in pitch, melody, loudness and voice quality: enough to
exercise and test the pipeline offline, not a replacement for the real recordings.
"""

import os
import sys
import time

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags

from tfam.cli.common import fail, parse_absl_flags, run_guarded

flags.DEFINE_integer(
    "tess_words", 10, "TESS words per speaker and emotion (1..200; the real set has 200)"
)
flags.DEFINE_integer(
    "ravdess_clips", 1, "RAVDESS clips per actor and emotion (1..8; neutral at most 4)"
)
flags.DEFINE_list(
    "ravdess_actors",
    [str(a) for a in range(1, 25)],
    "RAVDESS actors to make (1..24; 1-20 are train, 21-22 validate, 23-24 test)",
)
flags.DEFINE_integer("seed", 0, "random seed (the same seed gives the same files)")
FLAGS = flags.FLAGS


class _Progress:
    """A live counter on terminals; a line every 500 files otherwise."""

    def __init__(self, what):
        self.what, self.tty = what, sys.stderr.isatty()

    def __call__(self, done, total):
        if self.tty and (done % 10 == 0 or done == total):
            print(
                f"\rsynth_emotion: {done}/{total} {self.what} files",
                end="\n" if done == total else "",
                file=sys.stderr,
                flush=True,
            )
        elif not self.tty and done % 500 == 0:
            print(f"synth_emotion: {done}/{total} {self.what} files", file=sys.stderr, flush=True)


def run(out_root, actors):
    from tfam.data import emotion

    start = time.time()
    tess_root, ravdess_root = os.path.join(out_root, "TESS"), os.path.join(out_root, "RAVDESS")
    print(
        f"synth_emotion: writing TESS ({FLAGS.tess_words} words x 7 emotions x 2 speakers) to {tess_root}",
        file=sys.stderr,
        flush=True,
    )
    tess = emotion.synthesize_tess(
        tess_root, words_per_emotion=FLAGS.tess_words, seed=FLAGS.seed, progress=_Progress("TESS")
    )
    print(
        f"synth_emotion: writing RAVDESS ({FLAGS.ravdess_clips} clip(s) x 8 emotions x {len(actors)} actors) "
        f"to {ravdess_root}",
        file=sys.stderr,
        flush=True,
    )
    ravdess = emotion.synthesize_ravdess(
        ravdess_root,
        actors=actors,
        clips_per_emotion=FLAGS.ravdess_clips,
        seed=FLAGS.seed,
        progress=_Progress("RAVDESS"),
    )
    train = round(0.8 * FLAGS.tess_words)
    validate = min(FLAGS.tess_words - train, max(0, round(0.1 * FLAGS.tess_words)))
    print(
        f"synth_emotion: wrote {len(tess)} TESS and {len(ravdess)} RAVDESS clips to {out_root} in "
        f"{time.time() - start:.1f} s; pack them with: python3 datatools/prepare_emotion.py OUT.npz "
        f"--tess {tess_root} --ravdess {ravdess_root} --tess_split {train},{validate}"
    )


def main(argv):
    if len(argv) != 2:
        fail("usage: synth_emotion.py OUT_ROOT [--tess_words N] [--ravdess_clips N] [--seed S]")
    if not 1 <= FLAGS.tess_words <= 200:
        fail(f"--tess_words must be within 1..200, got {FLAGS.tess_words}")
    if not 1 <= FLAGS.ravdess_clips <= 8:
        fail(f"--ravdess_clips must be within 1..8, got {FLAGS.ravdess_clips}")
    try:
        actors = [int(a) for a in FLAGS.ravdess_actors]
    except ValueError:
        actors = []
    if not actors or any(not 1 <= a <= 24 for a in actors):
        fail(f"--ravdess_actors must be numbers within 1..24, got {','.join(FLAGS.ravdess_actors)}")
    run_guarded(run, argv[1], actors)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_absl_flags)
