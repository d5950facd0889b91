"""Spreading whole batches over the replicas of a tf.distribute strategy, and over its workers.

Each local replica (a GPU, or a logical CPU device) runs a thread that takes the next batch and
dreams it under the strategy's scope on its device: the strategy retraces the compiled loop once
per device and reads a model built under its scope from the device's own copy of the weights.
TensorFlow releases Python's lock while a compiled call runs, so the replicas compute at the same
time, and the caller's thread writes the results as they come. Several workers
(MultiWorkerMirroredStrategy from TF_CONFIG) take every n-th batch each.

Batches are never split between replicas, so a unit's dream is the same whatever the number of
devices or workers (see tfam.atlas.plan).
"""

import contextlib
import queue
import threading


class Stopped(Exception):
    """Raised between compiled calls of a replica's run when the runs are closed."""


def devices(strategy):
    """The local devices the strategy runs replicas on; [None] for the default strategy (the
    default device)."""
    try:
        return list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy has no replica devices of its own
        return [None]


def worker(strategy):
    """(this worker's place, the number of workers) in the strategy's cluster; (0, 1) alone."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    tasks = [(kind, i) for kind in ("chief", "worker") for i in range(len(cluster.get(kind, [])))]
    if len(tasks) < 2:
        return 0, 1
    return tasks.index((resolver.task_type, resolver.task_id)), len(tasks)


def wait_for_workers(strategy):
    """Return when every worker of the cluster has come here (a collective sum): the chief may
    then read what all of them wrote. Alone, at once."""
    if worker(strategy)[1] == 1:
        return
    import tensorflow as tf

    @tf.function  # a collective run eagerly warns of its overhead
    def count():
        return strategy.reduce(
            tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.ones([])), axis=None
        )

    count()


def run(strategy, tasks, compute):
    """Compute every task on the strategy's local replicas: ``compute(task, progress)`` returns
    the task's result and calls ``progress(done, total)`` as it goes. Yields, in the caller's
    thread, ("progress", task, fraction) and ("done", task, result) as they happen; a replica's
    error is raised here. At most two finished results per replica wait to be taken, so memory
    stays bounded by the batch, not by the number of tasks. Closing the generator (an interrupt)
    stops the replicas at their next compiled call."""
    return _Pool(strategy, tasks, compute).events()


class _Pool:
    """One thread per replica device, taking tasks from one queue and reporting on another."""

    def __init__(self, strategy, tasks, compute):
        self.strategy, self.compute, self.count = strategy, compute, len(tasks)
        self.pending, self.reports = queue.SimpleQueue(), queue.SimpleQueue()
        for task in tasks:
            self.pending.put(task)
        self.devices = devices(strategy)
        self.slots = threading.Semaphore(2 * len(self.devices))
        self.stop = threading.Event()

    def events(self):
        threads = [
            threading.Thread(target=self._work, args=(device,), daemon=True)
            for device in self.devices
        ]
        for thread in threads:
            thread.start()
        remaining = self.count
        try:
            while remaining:
                kind, task, value = self._next(threads)
                yield kind, task, value
                if kind == "done":
                    remaining -= 1
                    self.slots.release()
        finally:
            # an interrupt does not wait: a replica may be tracing for seconds, and it ends at
            # its next compiled call, writing nothing
            self.stop.set()
        for thread in threads:
            thread.join()

    def _next(self, threads):
        while True:
            try:
                kind, task, value = self.reports.get(timeout=0.1)  # the timeout lets Ctrl-C in
            except queue.Empty:
                if not any(thread.is_alive() for thread in threads) and self.reports.empty():
                    raise RuntimeError("the replicas ended with tasks left") from None
                continue
            if kind == "error":
                raise value
            return kind, task, value

    def _progress(self, task):
        def report(done, total):
            if self.stop.is_set():
                raise Stopped
            self.reports.put(("progress", task, done / total))

        return report

    def _work(self, device):
        import tensorflow as tf

        placed = tf.device(device) if device is not None else contextlib.nullcontext()
        try:
            with self.strategy.scope(), placed:
                while self._room():
                    try:
                        task = self.pending.get_nowait()
                    except queue.Empty:
                        return
                    self.reports.put(("done", task, self.compute(task, self._progress(task))))
        except Stopped:
            pass
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            self.reports.put(("error", None, error))

    def _room(self):
        """Wait for room for one more result; False once the runs are stopped."""
        while not self.stop.is_set():
            if self.slots.acquire(timeout=0.1):
                return True
        return False
