"""Training the UrbanSound CNN as seed 002 did, on TensorFlow 2: balanced batches, Adam with the
0.01 -> 0.0001 rule, validation every few steps, checkpoints, resume, TensorBoard.

    logdir/model/      ckpt-N (tf.train.Checkpoint: model, optimizer, step, schedule state),
                       config.json, best.keras (+ .labels.txt), model.keras (+ .labels.txt);
                       with LEP also best.lep.keras, model.lep.keras (the projection) and
                       lep_embeddings.npy (the class embeddings it was trained toward)
    logdir/tensorboard/train, logdir/tensorboard/validation   scalars, confusion matrix, audio

One compiled train step runs under a tf.distribute strategy (the default one, mirrored or
multi-worker mirrored); the input pipeline is tf.data with prefetch.

With lep_weight > 0 the step optimizes seed 003's Label Embeddings Projection loss (tfam.train.lep) for any
architecture: the classifier keeps one logits output, and the projection is a separate layer that
the checkpoint, the optimizer and the saved ``NAME.lep.keras`` carry.
"""

import collections
import dataclasses
import os
import signal
import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from tfam import outputs
from tfam.audio import spectrogram
from tfam.data.classes import check_classes
from tfam.keras_internals import all_layers
from tfam.models.urbansound_cnn import ARCHITECTURES
from tfam.train import lep
from tfam.train.run_dir import check_run_dir
from tfam.train.strategy import STRATEGIES, make_strategy

SCHEDULES = ("accuracy_drop", "constant")
# the names "seed" once had as an architecture and as a schedule (config.json files and commands
# from before keep working); "seed" itself now only means the random seed
OLD_NAMES = {"architecture": {"seed": "seed002"}, "schedule": {"seed": "accuracy_drop"}}
# Settings a resumed run must share with the run it continues (they shape the model, the data or
# the loss); a key missing from an older run's config.json counts as its default.
ARCHITECTURE_KEYS = (
    "architecture",
    "frontend",
    "crop",
    "width",
    "n_classes",
    "class_names",
    "blocks",
    "lep_weight",
    "word_vectors",
    "precision",
)
# Keras dtype policies a model may train under: mixed_bfloat16 computes in bfloat16 with float32
# weights; benchmarks/mixed_precision.py measured it 1.7-2.1x faster to train on this CPU (AVX-512
# BF16) with the same test accuracy
PRECISIONS = ("float32", "mixed_bfloat16")


@dataclasses.dataclass
class TrainConfig:
    iterations: int = 5000
    batch_size: int = 100
    logdir: str = "logs"
    architecture: str = "seed002"
    frontend: str = "waveform"  # waveform | spectrogram | mel
    crop: int = 0  # samples of each clip the model sees (0: all)
    sample_rate: int = 8000
    width: float = 1.0
    # slowfast: blocks per ResNet stage (empty: the seed's 3, 4, 6, 3); emotion_raw: (stacks,) of
    # dilated layers 1..512 (empty: the seed's 2)
    blocks: tuple = ()
    learning_rate: float = 0.01
    schedule: str = (
        "accuracy_drop"  # drop to low_learning_rate once recent accuracy > drop_accuracy
    )
    low_learning_rate: float = 0.0001
    drop_accuracy: float = 0.7
    drop_window: int = 200
    val_every: int = 10
    ckpt_every: int = 500
    keep_checkpoints: int = 5
    seed: int = 0
    strategy: str = "default"
    n_classes: int = 0
    class_names: tuple = ()
    lep_weight: float = 0.0  # Label Embeddings Projection weight (0: plain cross-entropy)
    word_vectors: str = ""  # the word-vector file of the class embeddings (tfam.train.lep)
    precision: str = "float32"  # or "mixed_bfloat16" (PRECISIONS)

    def __post_init__(self):
        for key, renamed in OLD_NAMES.items():
            object.__setattr__(self, key, renamed.get(getattr(self, key), getattr(self, key)))
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"unknown schedule '{self.schedule}'; choose one of: {', '.join(SCHEDULES)}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"unknown precision '{self.precision}'; choose one of: {', '.join(PRECISIONS)}"
            )
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown strategy '{self.strategy}'; choose one of: {', '.join(STRATEGIES)}"
            )

    def architecture_settings(self):
        return {k: getattr(self, k) for k in ARCHITECTURE_KEYS}


EMOTION_ARCHITECTURES = ("emotion_mel", "emotion_raw")
MEL_FRAMES = 160  # seed 000's mel classifier sees 160-frame crops
SLOWFAST_WIDTH = 64  # the seed's slow-stream stem width; --width scales it


def build_model(config, samples=None):
    """The architecture of ``config`` under its precision's dtype policy; ``samples`` is the clip
    length for models that compute their front end inside (slowfast: the seed's log-mel of the
    waveform at config.sample_rate)."""
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(config.precision)
    try:
        return _build_architecture(config, samples)
    finally:
        keras.mixed_precision.set_global_policy(before)


def _build_architecture(config, samples):
    if config.architecture == "slowfast":
        from tfam.models.slowfast_audio import SEED_STAGES, slowfast_audio

        return slowfast_audio(
            config.n_classes,
            width=max(1, round(SLOWFAST_WIDTH * config.width)),
            stages=tuple(config.blocks) or SEED_STAGES,
            sample_rate=config.sample_rate,
            samples=config.crop or samples,
        )
    if config.architecture in EMOTION_ARCHITECTURES:
        from tfam.models import emotion

        if config.architecture == "emotion_mel":
            return emotion.emotion_mel_cnn(config.n_classes, width=config.width)
        return emotion.emotion_raw_cnn(
            config.n_classes, samples=config.crop, width=config.width, stacks=raw_stacks(config)
        )
    build = ARCHITECTURES.get(config.architecture)
    if build is None:
        raise ValueError(
            f"unknown architecture '{config.architecture}'; choose one of: "
            f"{', '.join(list(ARCHITECTURES) + list(EMOTION_ARCHITECTURES) + ['slowfast'])}"
        )
    return build(n_classes=config.n_classes, frontend=config.frontend, width=config.width)


def raw_stacks(config):
    """The emotion raw CNN's stacks of dilated layers: config.blocks (one number) or the seed's 2."""
    if not config.blocks:
        return 2
    if len(config.blocks) != 1:
        raise ValueError(
            f"emotion_raw takes one number of blocks (stacks of dilations 1..512), got "
            f"{','.join(map(str, config.blocks))}"
        )
    return int(config.blocks[0])


def crop_rows(waveforms, length, seed=None):
    """A ``length``-sample window of every row: random per row when ``seed`` (a stateless seed) is
    given, else the centre. Rows shorter than ``length`` are zero-padded at the end first."""
    n = tf.shape(waveforms)[1]
    waveforms = tf.pad(waveforms, [[0, 0], [0, tf.maximum(length - n, 0)]])
    room = tf.maximum(n - length, 0)
    rows = tf.shape(waveforms)[0]
    if seed is None:
        starts = tf.fill([rows], room // 2)
    else:
        starts = tf.random.stateless_uniform([rows], seed, 0, room + 1, dtype=tf.int32)
    index = starts[:, None] + tf.range(length)[None, :]
    return tf.gather(waveforms, index, batch_dims=1)


def model_inputs(waveforms, frontend, crop=0, seed=None):
    """What the model takes from a batch of waveforms: the waveform itself, the seed-002 spectrogram
    of it, or (seed 000) a log-mel in [0, 1]; ``crop`` > 0 first takes that many samples (random
    with ``seed``, else the centre)."""
    if crop:
        waveforms = crop_rows(waveforms, crop, seed)
    if frontend == "spectrogram":
        return spectrogram.seed_spectrogram(waveforms)
    if frontend == "mel":
        from tfam.audio import mel

        return mel.LogMel(scale_to_unit=True)(waveforms)
    return waveforms


def input_settings(architecture, frontend="waveform"):
    """(frontend, crop) an architecture trains with: seed 000's models see crops of the 3 s clips."""
    if architecture == "emotion_mel":
        from tfam.audio import mel

        return "mel", (MEL_FRAMES - 1) * mel.HOP  # centred frames: exactly 160 of them
    if architecture == "emotion_raw":
        from tfam.models.emotion import RAW_SAMPLES

        return "waveform", RAW_SAMPLES
    if architecture == "slowfast":  # its log-mel front end is inside the model
        return "waveform", 0
    return frontend, 0


def balanced_batches(audio, labels, n_classes, batch_size, frontend, seed, crop=0):
    """Endless tf.data batches with batch_size // n_classes clips of every class (seed 002's
    balanced batches), int16 audio kept in memory and converted per batch; random crops."""
    per_class = batch_size // n_classes
    if per_class < 1:
        raise ValueError(
            f"batch size {batch_size} is below the number of classes ({n_classes}): "
            "balanced batches need at least one clip per class"
        )
    streams = []
    for c in range(n_classes):
        index = np.flatnonzero(labels == c)
        if len(index) == 0:
            raise ValueError(f"class {c} has no training clips")
        streams.append(
            tf.data.Dataset.from_tensor_slices(index)
            .repeat()
            .shuffle(min(len(index), 10000), seed=seed + c)
            .batch(per_class)
        )
    audio = tf.constant(np.round(audio * 32768.0).clip(-32768, 32767).astype(np.int16))

    def gather(step, index):
        index = tf.concat(index, axis=0)
        x = tf.cast(tf.gather(audio, index), tf.float32) / 32768.0
        crop_seed = tf.stack([tf.cast(seed, tf.int64), step]) if crop else None
        return model_inputs(x, frontend, crop, crop_seed), tf.gather(labels, index)

    return (
        tf.data.Dataset.zip(tf.data.Dataset.counter(), tf.data.Dataset.zip(tuple(streams)))
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


# compiled inference per model (weakly held) and (front end, crop, clip shape): repeated calls,
# as every evaluation and benchmark makes, run the traced function again instead of a new one
_predictors = weakref.WeakKeyDictionary()


def predictor(model, frontend, crop, clip_shape):
    """The compiled ``waveforms -> logits`` of the model, for batches of any size."""
    cache = _predictors.setdefault(model, {})
    key = (frontend, int(crop), tuple(clip_shape))
    if key not in cache:
        spec = tf.TensorSpec((None,) + tuple(clip_shape), tf.float32)
        held = weakref.ref(model)  # the cache must not keep the model alive: a weak reference

        # not converted by autograph (nothing to convert): a failed conversion of this closure
        # ("closure mismatch") was logged with its traceback, whose frames kept the model alive
        @tf.autograph.experimental.do_not_convert
        def logits(x):
            return held()(model_inputs(x, frontend, crop), training=False)

        cache[key] = tf.function(logits, input_signature=[spec], autograph=False)
    return cache[key]


def predict_logits(model, waveforms, frontend, batch_size=256, crop=0):
    """Logits for a whole split, batch by batch (inference mode, centre crops)."""
    waveforms = np.asarray(waveforms, np.float32)
    call = predictor(model, frontend, crop, waveforms.shape[1:])
    parts = [
        call(tf.constant(waveforms[i : i + batch_size])).numpy()
        for i in range(0, len(waveforms), batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, model.outputs[0].shape[-1]), np.float32)


def confusion_matrix(labels, predictions, n_classes):
    matrix = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


class Trainer:
    """Owns the model, optimizer, checkpoint and summary writers of one training run."""

    def __init__(
        self, config, splits, resume=False, overwrite=False, progress_every=10, embeddings=None
    ):
        """``embeddings``: the (n_classes, d) LEP class embeddings when config.lep_weight > 0
        (read from config.word_vectors when not given)."""
        names = list(config.class_names) or [str(i) for i in range(config.n_classes)]
        check_classes({split: y for split, (_, y) in splits.items()}, names, "the training data")
        self.config, self.splits, self.progress_every = config, splits, progress_every
        self.model_dir = os.path.join(config.logdir, "model")
        self.tb_dir = os.path.join(config.logdir, "tensorboard")
        self.embeddings = self._lep_embeddings(embeddings)
        check_run_dir(
            self.model_dir,
            config.architecture_settings(),
            resume,
            overwrite,
            {f.name: f.default for f in dataclasses.fields(TrainConfig)},
            OLD_NAMES,
        )
        keras.utils.set_random_seed(config.seed)
        self.strategy = make_strategy(config.strategy)
        with self.strategy.scope():
            self.model = build_model(config, samples=splits["train"][0].shape[1])
            self.projection = None
            if self.embeddings is not None:
                self.projection = lep.projection_layer(self.embeddings.shape[1])
                self.projection.build((None, config.n_classes))
            self.optimizer = keras.optimizers.Adam(config.learning_rate)
            self.optimizer.build(self._variables())
        # Bookkeeping only Python touches: plain variables, outside the strategy (not mirrored).
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        # the seed's schedule rule: the last drop_window training accuracies, and whether it fired
        self.recent_accuracy = tf.Variable(tf.zeros(config.drop_window), trainable=False)
        self.dropped = tf.Variable(False, trainable=False)
        self.best_accuracy = tf.Variable(-1.0, trainable=False)
        parts = {"lep": self.projection} if self.projection is not None else {}
        self.checkpoint = tf.train.Checkpoint(
            model=self.model,
            optimizer=self.optimizer,
            step=self.step,
            dropped=self.dropped,
            recent_accuracy=self.recent_accuracy,
            best_accuracy=self.best_accuracy,
            **parts,
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.model_dir, max_to_keep=config.keep_checkpoints
        )
        if resume and self.manager.latest_checkpoint:
            self.checkpoint.restore(
                self.manager.latest_checkpoint
            ).assert_existing_objects_matched()
            print(f"resumed from {self.manager.latest_checkpoint} at step {int(self.step)}")
        self._write_config()
        if self.embeddings is not None:
            with outputs.atomic_write(os.path.join(self.model_dir, "lep_embeddings.npy")) as f:
                np.save(f, self.embeddings)
        self.writers = {
            name: tf.summary.create_file_writer(os.path.join(self.tb_dir, name))
            for name in ("train", "validation")
        }
        self._train_step = self._compile_train_step()
        self._calibration_batches = None

    # -- LEP -------------------------------------------------------------------------------------
    def _lep_embeddings(self, embeddings):
        c = self.config
        if not 0.0 <= c.lep_weight <= 1.0:
            raise ValueError(f"--lep_weight must be between 0 and 1, got {c.lep_weight}")
        if c.lep_weight == 0:
            return None
        if embeddings is None:
            if not c.word_vectors:
                raise ValueError(
                    "--lep_weight above 0 needs --word_vectors (a GloVe text, .npz or .npy file)"
                )
            embeddings = lep.class_embeddings(c.class_names, c.word_vectors)
        embeddings = np.asarray(embeddings, np.float32)
        if embeddings.ndim != 2 or embeddings.shape[0] != c.n_classes:
            raise ValueError(
                f"LEP needs one embedding per class ({c.n_classes}), got {embeddings.shape}"
            )
        return embeddings

    def _variables(self):
        extra = self.projection.trainable_variables if self.projection is not None else []
        return self.model.trainable_variables + extra

    # -- run directory ---------------------------------------------------------------------------
    def _write_config(self):
        outputs.write_json(
            os.path.join(self.model_dir, "config.json"),
            {**dataclasses.asdict(self.config), "class_names": list(self.config.class_names)},
        )

    # -- the compiled step -----------------------------------------------------------------------
    def _compile_train_step(self):
        global_batch = (self.config.batch_size // self.config.n_classes) * self.config.n_classes

        use_lep = self.projection is not None
        targets = tf.constant(self.embeddings) if use_lep else None

        def average(per_example):
            return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)

        def replica_step(x, y):
            variables = self._variables()
            with tf.GradientTape() as tape:
                logits = tf.cast(self.model(x, training=True), tf.float32)  # loss in float32
                if use_lep:
                    per_example, cross_entropy, mse = lep.lep_loss(
                        y, logits, self.projection(logits), targets, self.config.lep_weight
                    )
                else:
                    per_example = cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(
                        y, logits
                    )
                    mse = tf.zeros_like(cross_entropy)
                loss = average(per_example)
            gradients = tape.gradient(loss, variables)
            self.optimizer.apply_gradients(zip(gradients, variables))
            correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1), y), tf.float32))
            return loss, correct / global_batch, average(cross_entropy), average(mse)

        @tf.function
        def train_step(iterator):
            """One step, its step count and its scalars: all in the graph, so the Python loop
            around it costs next to nothing per step (it did cost 5 ms of a 31 ms step)."""
            x, y = next(iterator)
            results = self.strategy.run(replica_step, args=(x, y))
            reduce = tf.distribute.ReduceOp.SUM
            loss, accuracy, cross_entropy, mse = [
                self.strategy.reduce(reduce, r, None) for r in results
            ]
            step = self.step.assign_add(1)
            with self.writers["train"].as_default(step=step):
                tf.summary.scalar("loss", loss)
                tf.summary.scalar("accuracy", accuracy)
                tf.summary.scalar("learning_rate", self.optimizer.learning_rate)
                if use_lep:  # the two parts of the LEP loss, unweighted
                    tf.summary.scalar("cross_entropy", cross_entropy)
                    tf.summary.scalar("lep_mse", mse)
            return loss, accuracy, step

        return train_step

    def _update_schedule(self, step, accuracy):
        """Seed 002: Adam at 0.01 until the mean of the last 200 training accuracies exceeds 0.7,
        then 0.0001 for the rest of the run. Kept in Python between checkpoints (cheap per step)."""
        c = self.config
        self._recent.append(accuracy)
        if (
            c.schedule == "accuracy_drop"
            and not self._dropped
            and len(self._recent) == c.drop_window
            and sum(self._recent) / c.drop_window > c.drop_accuracy
        ):
            self._dropped = True
            print(
                f"step {step}: mean accuracy of the last {c.drop_window} steps > "
                f"{c.drop_accuracy}; learning rate {c.learning_rate} -> {c.low_learning_rate}"
            )
        rate = c.low_learning_rate if self._dropped else c.learning_rate
        if rate != self._rate:
            self.optimizer.learning_rate.assign(rate)
            self._rate = rate
        return rate

    def _load_schedule_state(self):
        c, step = self.config, int(self.step)
        kept = min(step, c.drop_window)
        window = self.recent_accuracy.numpy().tolist()
        self._recent = collections.deque(
            window[len(window) - kept :] if kept else [], maxlen=c.drop_window
        )
        self._dropped = bool(self.dropped)
        self._rate = None

    def _save_schedule_state(self):
        window = list(self._recent)
        padded = [0.0] * (self.config.drop_window - len(window)) + window
        self.recent_accuracy.assign(padded)
        self.dropped.assign(self._dropped)

    # -- evaluation and saving -------------------------------------------------------------------
    def validation_scalars(self, batch):
        """{loss, accuracy} of one batch in inference mode; with LEP the loss is the LEP loss (as in
        training) and cross_entropy and lep_mse are there too."""
        x, y = batch
        logits = tf.cast(self.model(x, training=False), tf.float32)
        accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, -1), y), tf.float32))
        if self.projection is None:
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)
            return {"loss": float(tf.reduce_mean(loss)), "accuracy": float(accuracy)}
        loss, cross_entropy, mse = lep.lep_loss(
            y, logits, self.projection(logits), self.embeddings, self.config.lep_weight
        )
        return {
            "loss": float(tf.reduce_mean(loss)),
            "accuracy": float(accuracy),
            "cross_entropy": float(tf.reduce_mean(cross_entropy)),
            "lep_mse": float(tf.reduce_mean(mse)),
        }

    def validate_all(self):
        """Accuracy and confusion matrix on the whole validation split."""
        x, y = self.splits["validate"]
        predictions = predict_logits(
            self.model, x, self.config.frontend, crop=self.config.crop
        ).argmax(-1)
        matrix = confusion_matrix(y, predictions, self.config.n_classes)
        return float(np.mean(predictions == y)) if len(y) else float("nan"), matrix

    def save_model(self, name):
        path = os.path.join(self.model_dir, name + ".keras")
        with outputs.atomic_path(path) as tmp:
            self.model.save(tmp)
        if self.projection is not None:  # beside the model, which keeps its one logits output
            projection = lep.projection_model(self.projection, self.config.n_classes)
            with outputs.atomic_path(os.path.join(self.model_dir, name + ".lep.keras")) as tmp:
                projection.save(tmp)
        with outputs.atomic_write(os.path.join(self.model_dir, name + ".labels.txt"), "w") as f:
            f.write("\n".join(self.config.class_names) + "\n")
        return path

    def recalibrate_batch_norm(self, batches, count=8):
        """Set batch-norm moving statistics to the average over ``count`` training batches ("precise
        BN", Wu & Johnson 2021). The moving averages lag the weights; in a short run they still hold
        much of their initial variance of 1, and inference then sees wrongly scaled activations."""
        norms = [
            layer
            for layer in all_layers(self.model)
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        if not norms:
            return
        momenta = [layer.momentum for layer in norms]
        try:
            for i in range(count):
                for layer in norms:
                    layer.momentum = i / (
                        i + 1
                    )  # 0 first: a running mean of the batches' statistics
                x, _ = next(batches)
                self.model(x, training=True)
        finally:
            for layer, momentum in zip(norms, momenta):
                layer.momentum = momentum

    def checkpoint_now(self):
        """Checkpoint, full validation with its confusion matrix, best model by validation accuracy."""
        from tfam.report import summaries

        step = int(self.step)
        if hasattr(self, "_recent"):
            self._save_schedule_state()
        if self._calibration_batches is not None:
            self.recalibrate_batch_norm(self._calibration_batches)
        self.manager.save(checkpoint_number=step)
        accuracy, matrix = self.validate_all()
        with self.writers["validation"].as_default():
            tf.summary.scalar("full_accuracy", accuracy, step=step)
            summaries.log_confusion("confusion_matrix", matrix, list(self.config.class_names), step)
        improved = accuracy > float(self.best_accuracy)
        if improved:
            self.best_accuracy.assign(accuracy)
            self.save_model("best")
            self.manager.save(checkpoint_number=step)  # so a resumed run knows the best so far
        print(
            f"step {step}: checkpoint saved; validation accuracy {accuracy:.3f}"
            + (
                " (best so far, saved best.keras)"
                if improved
                else f" (best {float(self.best_accuracy):.3f})"
            )
        )
        return accuracy

    def log_examples(self, batch):
        """A few training examples as audio, spectrogram pictures and model inputs, once per run."""
        from tfam.report import summaries

        x, y = batch
        names = [self.config.class_names[int(i)] for i in y.numpy()[:3]]
        step, rate = int(self.step), self.config.sample_rate
        with self.writers["train"].as_default():
            if self.config.frontend == "waveform":
                waveforms = x.numpy()[:3]
                summaries.log_audio("examples/audio", waveforms, rate, step, max_outputs=3)
                summaries.log_spectrograms(
                    "examples/spectrogram", waveforms, rate, step, titles=names, max_outputs=3
                )
                if (
                    self.config.architecture in ARCHITECTURES
                ):  # what the seed-002 front end makes of it
                    tf.summary.image(
                        "examples/model_input",
                        _as_images(model_inputs(x[:3], "spectrogram")),
                        step=step,
                        max_outputs=3,
                    )
                elif self.config.architecture == "slowfast":  # the log-mel the model computes
                    tf.summary.image(
                        "examples/model_input",
                        _as_images(self.model.get_layer("log_mel")(x[:3])),
                        step=step,
                        max_outputs=3,
                    )
            else:  # spectrogram or mel inputs are pictures already
                tf.summary.image(
                    "examples/model_input", _as_images(x[:3]), step=step, max_outputs=3
                )

    # -- the loop --------------------------------------------------------------------------------
    def train(self):
        c = self.config
        x, y = self.splits["train"]
        seed = c.seed + int(self.step)  # a resumed run does not replay the batches it already saw
        train_data = balanced_batches(x, y, c.n_classes, c.batch_size, c.frontend, seed, c.crop)
        iterator = iter(self.strategy.experimental_distribute_dataset(train_data))
        vx, vy = self.splits["validate"]
        val_batches = (
            iter(balanced_batches(vx, vy, c.n_classes, c.batch_size, c.frontend, seed + 1, c.crop))
            if len(vy) and len(np.unique(vy)) == c.n_classes
            else None
        )
        self._calibration_batches = iter(train_data)  # plain (not distributed) batches
        if int(self.step) == 0:
            self.log_examples(next(self._calibration_batches))
        start_step, started = int(self.step), time.perf_counter()
        # Ctrl-C and SIGTERM set a flag that the loop checks between steps: a KeyboardInterrupt
        # raised inside TensorFlow's runtime can be swallowed, and the step in flight should finish.
        interrupted = []
        previous = {
            s: signal.signal(s, lambda *_: interrupted.append(True))
            for s in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            step = int(self.step)
            self._load_schedule_state()
            rate = c.low_learning_rate if self._dropped else c.learning_rate
            self.optimizer.learning_rate.assign(rate)
            self._rate = rate
            while step < c.iterations and not interrupted:
                loss, accuracy, step = self._train_step(iterator)
                loss, accuracy, step = float(loss), float(accuracy), int(step)
                if not np.isfinite(loss):
                    raise FloatingPointError(
                        f"the training loss became {loss} at step {step}; "
                        "try a lower --learning_rate"
                    )
                rate = self._update_schedule(step, accuracy)
                val = None
                if val_batches is not None and step % c.val_every == 0:
                    scalars = self.validation_scalars(next(val_batches))
                    val = scalars["accuracy"]
                    with self.writers["validation"].as_default():
                        for tag, value in scalars.items():
                            tf.summary.scalar(tag, value, step=step)
                if step % self.progress_every == 0 or step == c.iterations:
                    self._print_progress(step, start_step, started, loss, accuracy, val, rate)
                if step % c.ckpt_every == 0:
                    self.checkpoint_now()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        step = int(self.step)
        self._save_schedule_state()
        if interrupted:
            self.manager.save(checkpoint_number=step)
            print(f"interrupted at step {step}: checkpoint saved; continue with --resume")
            raise KeyboardInterrupt
        if step % c.ckpt_every != 0 or step == start_step:
            self.checkpoint_now()
        for writer in self.writers.values():
            writer.flush()
        path = self.save_model("model")
        print(
            f"finished {step} steps; best validation accuracy {float(self.best_accuracy):.3f}; "
            f"models: {path}, {os.path.join(self.model_dir, 'best.keras')}; "
            f"TensorBoard: tensorboard --logdir {self.tb_dir}"
        )
        return float(self.best_accuracy)

    def _print_progress(self, step, start_step, started, loss, accuracy, val, rate):
        done = step - start_step
        elapsed = time.perf_counter() - started
        per_second = done / elapsed if elapsed > 0 else float("nan")
        eta = (self.config.iterations - step) / per_second if per_second > 0 else 0.0
        val_text = f" val_acc {val:.3f}" if val is not None else ""
        print(
            f"step {step}/{self.config.iterations} loss {loss:.4f} acc {accuracy:.3f}{val_text} "
            f"lr {rate:g} | {per_second:.2f} steps/s, {per_second * self.config.batch_size:.0f} "
            f"clips/s, ETA {_duration(eta)}",
            flush=True,
        )


def _duration(seconds):
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def _as_images(spectrograms):
    """Normalized spectrograms (B, F, T, 1) as images with low frequencies at the bottom."""
    s = tf.reverse(spectrograms, axis=[1])
    lo = tf.reduce_min(s, axis=[1, 2, 3], keepdims=True)
    hi = tf.reduce_max(s, axis=[1, 2, 3], keepdims=True)
    return (s - lo) / tf.maximum(hi - lo, 1e-6)
