"""The check every dataset passes before it is packed or trained on: a classifier needs at least
two classes, and training needs clips of every class in every split that holds clips."""

import logging

import numpy as np


def check_classes(labels_per_split, class_names, where, every_class=True):
    """``labels_per_split``: {split: labels}. Raises ValueError naming the class and the split.

    With ``every_class`` (training) the training split must hold every class (batches draw from
    each), and validation and test splits may be empty but not lack a class. Without it (packing a
    partial set is fine) only at least two classes must hold clips; a split lacking a class is a
    warning."""
    if len(class_names) < 2:
        found = ", ".join(map(str, class_names)) or "none"
        raise ValueError(
            f"{where} has {len(class_names)} class(es) ({found}); a classifier needs at least two"
        )
    counts = {
        split: np.bincount(np.asarray(labels, np.int64).reshape(-1), minlength=len(class_names))
        for split, labels in labels_per_split.items()
    }
    present = [name for k, name in enumerate(class_names) if any(c[k] for c in counts.values())]
    if len(present) < 2:
        raise ValueError(
            f"{where} holds clips of {len(present)} class(es) "
            f"({', '.join(present) or 'none'}); a classifier needs at least two"
        )
    for split, count in counts.items():
        if count.sum() == 0 and split != "train":
            continue
        empty = [name for name, n in zip(class_names, count) if n == 0]
        if not empty:
            continue
        more = f" (nor of {len(empty) - 1} other class(es))" if len(empty) > 1 else ""
        message = f"{where}: the {split} split has no clip of class '{empty[0]}'{more}"
        if every_class:
            raise ValueError(message)
        logging.getLogger("tfam").warning("tfam: %s", message)
