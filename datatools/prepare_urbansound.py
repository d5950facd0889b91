"""Turn an UrbanSound8K download into seed 002's UrbanSound8K_modified.

    python3 datatools/prepare_urbansound.py DOWNLOAD_ROOT OUT_ROOT [--skip_bad]

Every clip of exactly 4 s becomes mono 16-bit 8000 Hz WAV in OUT_ROOT/audio/<class>/, named
TRAIN-, VALIDATE- or TEST-<original name> by its fold (1-8, 9, 10); gun_shot is dropped.
OUT_ROOT/README.txt records what was done. Then pack it: python3 datatools/pack_urbansound.py OUT_ROOT
"""

import os
import sys

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags

from tfam.cli.common import fail, parse_absl_flags, run_guarded

flags.DEFINE_boolean("skip_bad", False, "skip unreadable WAV files (counted) instead of stopping")
FLAGS = flags.FLAGS


def _progress(done, total):
    if done % 100 == 0 or done == total:  # a live counter, on terminals only
        print(
            f"\rprepare_urbansound: {done}/{total} clips",
            end="\n" if done == total else "",
            file=sys.stderr,
            flush=True,
        )


def run(download_root, out_root):
    from tfam.data import urbansound

    summary = urbansound.prepare(
        download_root,
        out_root,
        skip_bad=FLAGS.skip_bad,
        progress=_progress if sys.stderr.isatty() else None,
    )
    per_split = ", ".join(f"{sum(c.values())} {split}" for split, c in summary.counts.items())
    print(
        f"prepare_urbansound: wrote {summary.total} clips ({per_split}) of "
        f"{len(set().union(*summary.counts.values()))} classes to {out_root}; left out "
        f"{summary.wrong_length} not 4 s long, {sum(summary.dropped.values())} dropped "
        f"({', '.join(summary.dropped) or 'none'}), {len(summary.bad)} unreadable"
    )
    if summary.bad:
        print(
            f"prepare_urbansound: warning: skipped {len(summary.bad)} unreadable file(s), "
            f"first: {summary.bad[0][1]}",
            file=sys.stderr,
        )


def main(argv):
    if len(argv) != 3:
        fail("usage: prepare_urbansound.py DOWNLOAD_ROOT OUT_ROOT [--skip_bad]")
    run_guarded(run, argv[1], argv[2])


if __name__ == "__main__":
    app.run(main, flags_parser=parse_absl_flags)
