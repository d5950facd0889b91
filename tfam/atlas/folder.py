"""An atlas on disk: its settings, one record per unit, and what may continue or replace it.

    OUT/atlas.json               the settings every unit was dreamed with
    OUT/<section>/<stem>.wav     the dream (sounds), or .png (images)
    OUT/<section>/<stem>.png     its spectrogram (sounds)
    OUT/<section>/<stem>.json    its record, written last: a unit whose record exists is done
    OUT/index.html               the page

Every file is written to a temporary name and renamed, so an interrupted atlas holds whole files
only; a unit's record comes after its pictures and sound, so a unit is done exactly when its record
exists, and a rerun with the same settings skips it. Other settings over an existing atlas are
refused, unless the caller asks to overwrite (then the old atlas's own files go first).
"""

import hashlib
import json
import os

from tfam import outputs

SETTINGS = "atlas.json"
PAGE = "index.html"
SUFFIXES = (".json", ".wav", ".png")


def digest(path):
    """The SHA-256 of a model file, or of every file of a model directory (a SavedModel), so that
    an atlas of a retrained model is not taken for the old one's."""
    sha = hashlib.sha256()
    files = (
        sorted(os.path.join(folder, name) for folder, _, names in os.walk(path) for name in names)
        if os.path.isdir(path)
        else [path]
    )
    for name in files:
        sha.update(os.path.relpath(name, path).encode() if name != path else b"")
        with open(name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
    return sha.hexdigest()


class Folder:
    """The folder of one atlas."""

    def __init__(self, out):
        self.out = out

    def path(self, *parts):
        return os.path.join(self.out, *parts)

    def settings(self):
        """The settings of the atlas already here, or None."""
        try:
            with open(self.path(SETTINGS), encoding="utf-8") as f:
                return json.load(f)["settings"]
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{self.path(SETTINGS)} is not an atlas's settings file") from None

    def prepare(self, settings, resume=False, overwrite=False, chief=True):
        """Make the folder ready for an atlas of ``settings``: continue the one here when its
        settings are equal, refuse other settings unless ``overwrite`` (then remove its files),
        refuse ``resume`` where there is nothing to continue. Only the ``chief`` of several
        workers writes or removes anything."""
        settings = json.loads(json.dumps(settings))  # tuples as lists, as the file holds them
        old = self.settings()
        if old is None and resume:
            raise FileNotFoundError(f"nothing to resume: no atlas in {self.out}")
        if old is not None and old != settings:
            if not overwrite:
                raise ValueError(
                    f"{self.out} holds an atlas of other settings ({_differences(old, settings)}); "
                    "give --overwrite to replace it, or another --out"
                )
            if chief:
                self.remove(old)
            old = None
        if old is None and chief:
            outputs.write_json(self.path(SETTINGS), {"settings": settings})

    def remove(self, settings):
        """Remove the files of the atlas of ``settings`` (its own, nothing else of the folder)."""
        for folder in settings.get("folders", []):
            where = self.path(folder)
            if not os.path.isdir(where):
                continue
            for name in os.listdir(where):
                if name.endswith(SUFFIXES):
                    os.remove(os.path.join(where, name))
            if not os.listdir(where):
                os.rmdir(where)
        for name in (PAGE, SETTINGS):
            if os.path.exists(self.path(name)):
                os.remove(self.path(name))

    def record_path(self, unit):
        return self.path(unit.section.folder, unit.stem + ".json")

    def is_done(self, unit):
        return os.path.exists(self.record_path(unit))

    def record(self, unit):
        with open(self.record_path(unit), encoding="utf-8") as f:
            return json.load(f)

    def write_record(self, unit, record):
        """The unit's record, after its files: from now on the unit counts as done."""
        outputs.write_json(self.record_path(unit), record)


def _differences(old, new, prefix=""):
    """'steps 100 -> 200, recipe.tv 0.05 -> 0.1, sections differ'."""
    shown = []
    for key in dict.fromkeys(list(old) + list(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            shown.append(_differences(a, b, f"{prefix}{key}."))
        elif isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
            shown.append(f"{prefix}{key} differ")
        else:
            shown.append(f"{prefix}{key} {a} -> {b}")
    return ", ".join(shown)
