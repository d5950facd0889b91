"""Pack UrbanSound8K_modified into one .npz for training (no pickle: loading it runs no code).

    python3 datatools/pack_urbansound.py MODIFIED_ROOT [--out PATH]
    python3 datatools/pack_urbansound.py --from_pickle urbansound.pkl --allow_pickle [--out PATH]

The .npz holds {train,validate,test}_audio (int16, N x 32000), _labels, _files and class_names.
The second form converts the seed's urbansound.pkl; pickles can run code, so it needs --allow_pickle.
"""

import os
import sys

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags

from tfam.cli.common import fail, parse_absl_flags, run_guarded

flags.DEFINE_string(
    "out",
    None,
    "output .npz (default MODIFIED_ROOT/urbansound.npz, or the pickle's name with .npz)",
)
flags.DEFINE_string("from_pickle", None, "convert the seed's urbansound.pkl instead of a folder")
flags.DEFINE_boolean(
    "allow_pickle", False, "with --from_pickle: trust the pickle (it can run code)"
)
FLAGS = flags.FLAGS


def run(modified_root):
    from tfam.data import urbansound

    if FLAGS.from_pickle:
        out = FLAGS.out or os.path.splitext(FLAGS.from_pickle)[0] + ".npz"
        counts = urbansound.pack_seed_pickle(
            FLAGS.from_pickle, out, allow_pickle=FLAGS.allow_pickle
        )
    else:
        out = FLAGS.out or os.path.join(modified_root, "urbansound.npz")
        counts = urbansound.pack(modified_root, out)
    per_split = ", ".join(f"{sum(c.values())} {split}" for split, c in counts.items())
    classes = max(len(c) for c in counts.values())
    print(f"pack_urbansound: wrote {out} ({per_split} clips, {classes} classes)")


def main(argv):
    if FLAGS.from_pickle and len(argv) not in (1, 2) or not FLAGS.from_pickle and len(argv) != 2:
        fail(
            "usage: pack_urbansound.py MODIFIED_ROOT [--out PATH] | --from_pickle PKL --allow_pickle [--out PATH]"
        )
    run_guarded(run, argv[1] if len(argv) == 2 else None)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_absl_flags)
