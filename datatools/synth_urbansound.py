"""Make a synthetic stand-in for the UrbanSound8K download, in the real layout.

    python3 datatools/synth_urbansound.py OUT_DIR [--clips_per_class 40] [--seed 0]

Writes OUT_DIR/audio/fold1..fold10/*.wav (assorted rates, sample formats, mono and stereo; some
clips shorter than 4 s) and OUT_DIR/metadata/UrbanSound8K.csv. The sounds are procedural,
class-specific imitations (sirens sweep, jackhammers hammer, ...): enough to exercise and test the
pipeline offline, not a replacement for the real recordings.
"""

import os
import sys

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags

from tfam.cli.common import fail, parse_absl_flags, run_guarded

flags.DEFINE_integer(
    "clips_per_class", 40, "clips of each of the 10 classes, spread over the 10 folds"
)
flags.DEFINE_integer("seed", 0, "random seed (the same seed gives the same files)")
FLAGS = flags.FLAGS


def run(out_dir):
    from tfam.data import urbansound

    rows = urbansound.synthesize_download(
        out_dir, clips_per_class=FLAGS.clips_per_class, seed=FLAGS.seed
    )
    short = sum(float(r["end"]) - float(r["start"]) < urbansound.SECONDS - 1e-3 for r in rows)
    print(
        f"synth_urbansound: wrote {len(rows)} clips ({short} shorter than 4 s) of "
        f"{len(urbansound.CLASSES_10)} classes to {out_dir}"
    )


def main(argv):
    if len(argv) != 2:
        fail("usage: synth_urbansound.py OUT_DIR [--clips_per_class N] [--seed S]")
    if FLAGS.clips_per_class < 1:
        fail(f"--clips_per_class must be at least 1, got {FLAGS.clips_per_class}")
    run_guarded(run, argv[1])


if __name__ == "__main__":
    app.run(main, flags_parser=parse_absl_flags)
