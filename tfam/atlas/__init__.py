"""Atlases: every channel of a model's layers (and every class) dreamed, written batch by batch,
spread over devices and workers, and shown on one page (``tfam atlas``).

``plan`` (sections, units, batches, where each unit starts), ``memory`` (how many units a batch
holds), ``folder`` (the atlas on disk: settings, records, continuing and replacing), ``replicas``
(batches shared by a tf.distribute strategy's replicas and workers) and ``job`` (``run_atlas``:
all of it, with a progress bar over the whole atlas).
"""
