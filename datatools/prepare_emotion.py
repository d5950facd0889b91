"""Pack TESS and/or RAVDESS into one .npz as seed 000 prepared them (speech emotion).

    python3 datatools/prepare_emotion.py OUT.npz [--tess DIR] [--ravdess DIR] [--skip_bad]
        [--tess_split 160,20] [--drop_long]

Classes neutral, happy, sad, angry (RAVDESS calm counts as neutral; other emotions are skipped).
Every clip: 22050 Hz mono, edge silence trimmed (top_db 25), peak 1, zero-padded centred to 3 s
(a longer one keeps its middle 3 s, or is left out with --drop_long), 16-bit. Splits: RAVDESS
actors 1-20 train, 21-22 validate, 23-24 test; TESS per speaker and emotion, sorted by file
name, the first 160 train, the next 20 validate, the rest test (--tess_split for smaller sets).
Load it with tfam.data.emotion.load_packed(OUT.npz).
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

flags.DEFINE_string("tess", None, "the TESS download (folders like OAF_angry/ somewhere below)")
flags.DEFINE_string(
    "ravdess", None, "the RAVDESS speech download (Actor_01/ ... Actor_24/ somewhere below)"
)
flags.DEFINE_list(
    "tess_split",
    ["160", "20"],
    "TESS files per speaker and emotion for train and validate (the rest are test)",
)
flags.DEFINE_boolean(
    "drop_long",
    False,
    "leave out clips longer than 3 s after trimming (default: keep their middle 3 s)",
)
flags.DEFINE_boolean(
    "skip_bad",
    False,
    "skip unreadable, silent or too short WAV files and malformed names "
    "(counted) instead of stopping",
)
FLAGS = flags.FLAGS


class _Progress:
    """A live counter on terminals; a line every 500 clips otherwise."""

    def __init__(self):
        self.tty = sys.stderr.isatty()

    def __call__(self, done, total):
        if self.tty and (done % 20 == 0 or done == total):
            print(
                f"\rprepare_emotion: {done}/{total} clips",
                end="\n" if done == total else "",
                file=sys.stderr,
                flush=True,
            )
        elif not self.tty and (done % 500 == 0):
            print(f"prepare_emotion: {done}/{total} clips", file=sys.stderr, flush=True)


def run(out_path, tess_split):
    from tfam.data import emotion

    start = time.time()
    summary = emotion.prepare(
        FLAGS.tess,
        FLAGS.ravdess,
        out_path,
        tess_split=tess_split,
        long_clips="drop" if FLAGS.drop_long else "crop",
        skip_bad=FLAGS.skip_bad,
        progress=_Progress(),
    )
    per_split = ", ".join(f"{sum(c.values())} {split}" for split, c in summary.counts.items())
    per_class = ", ".join(
        f"{sum(summary.counts[s][c] for s in summary.counts)} {c}" for c in emotion.CLASS_NAMES
    )
    per_dataset = ", ".join(f"{n} {d}" for d, n in summary.by_dataset.items())
    skipped = ", ".join(f"{n} {k}" for k, n in sorted(summary.skipped.items())) or "none"
    print(
        f"prepare_emotion: packed {summary.total} clips ({per_split}; {per_class}; {per_dataset}) into "
        f"{out_path} in {time.time() - start:.1f} s; skipped other emotions: {skipped}; "
        f"{summary.cropped} cropped to 3 s, {summary.dropped_long} dropped as longer than 3 s, "
        f"{summary.duplicates} duplicate file(s), {summary.unassigned} in no split, {len(summary.bad)} bad"
    )
    if summary.bad:
        print(
            f"prepare_emotion: warning: skipped {len(summary.bad)} bad file(s), first: {summary.bad[0][1]}",
            file=sys.stderr,
        )


def main(argv):
    if len(argv) != 2:
        fail(
            "usage: prepare_emotion.py OUT.npz [--tess DIR] [--ravdess DIR] [--skip_bad] [--tess_split 160,20]"
        )
    if FLAGS.tess is None and FLAGS.ravdess is None:
        fail("give --tess DIR, --ravdess DIR or both")
    try:
        tess_split = tuple(int(n) for n in FLAGS.tess_split)
    except ValueError:
        tess_split = ()
    if len(tess_split) != 2 or min(tess_split) < 0:
        fail(
            f"--tess_split must be two counts TRAIN,VALIDATE like 160,20, got {','.join(FLAGS.tess_split)}"
        )
    run_guarded(run, argv[1], tess_split)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_absl_flags)
