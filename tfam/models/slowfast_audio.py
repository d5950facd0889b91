"""Seed 003's dual-stream audio CNN: Slow-Fast Auditory Streams (Kazakos et al., ICASSP 2021) on a
log-mel spectrogram, after the authors' code (ekazakos/auditory-slow-fast, SlowFast R50).

Layout: (B, n_mels, frames, C), the layout of tfam.audio.mel.LogMel, so frequency is axis 1 and time axis
2; the paper's [time, frequency] kernels appear here as (frequency, time).

    log-mel (B, 128, T, 1)
      slow: every alpha-th frame (T/alpha frames), width C      fast: all T frames, width beta*C
      stem: conv 7x1 (freq x time), stride 2x2                  stem: conv 7x5, stride 2x2
             <- lateral1: conv 1x7 over time, stride alpha, 2*beta*C channels, concatenated
      res2 .. res5: ResNet stages (bottleneck blocks: time kernel Tx1 -> 3x1 over frequency, with the
             stage's frequency stride -> 1x1); slow T = 1 in the first half of the stages (it has
             few frames: temporal context comes from the laterals), 3 after; fast T = 3 everywhere
             <- lateral2..4 after res2, res3, res4
      global average pool of each stream, concatenated -> dropout -> linear logits ("logits")

Every layer is named by stream and place (slow_stem_conv, fast_res3_block2_b, lateral1, logits)
so that objectives and Grad-CAM can pick a layer of either stream: see :func:`stream_features`.
"""

import keras
from keras import layers

from tfam.audio.mel import LogMel  # importing this module registers LogMel, so saved models load

SEED_STAGES = (3, 4, 6, 3)  # ResNet-50
SEED_SAMPLE_RATE = 16000


def seed_log_mel(sample_rate=SEED_SAMPLE_RATE, n_mels=128, name="log_mel"):
    """The seed's log-mel as a tfam.audio.mel.LogMel layer, scaled to ``sample_rate``: 20 ms Hann window,
    10 ms hop, FFT of 128 ms (2048 points at 16 kHz), ``n_mels`` bands from 0 Hz to Nyquist, STFT
    magnitude (not power), log with a 1e-6 floor.

    LogMel takes log(max(mel, 1e-6)) where the seed took log(mel + 1e-6): the two differ by at most
    log 2, and only in bands whose energy is near 1e-6 (silence); LogMel uses the Slaney mel
    scale where the seed's loader used HTK's."""
    return LogMel(
        sample_rate=sample_rate,
        n_fft=round(2048 * sample_rate / SEED_SAMPLE_RATE),
        hop=round(0.010 * sample_rate),
        win=round(0.020 * sample_rate),
        n_mels=n_mels,
        fmin=0.0,
        fmax=sample_rate / 2,
        floor=1e-6,
        name=name,
    )


def _conv_bn_relu(x, filters, kernel, strides, name, relu=True, zero_gamma=False):
    """Conv (no bias), batch norm, ReLU. A strided conv pads kernel//2 on both sides (as the
    paper's PyTorch code does), so output frame i is centred on input frame i*stride and the
    slow frames, the fast frames and the laterals stay aligned."""
    if strides == (1, 1):
        x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=name)(x)
    else:
        x = layers.ZeroPadding2D(
            ((kernel[0] // 2,) * 2, (kernel[1] // 2,) * 2), name=name + "_pad"
        )(x)
        x = layers.Conv2D(filters, kernel, strides=strides, use_bias=False, name=name)(x)
    # gamma 0 on a residual branch's last norm: each block starts as the identity (ZERO_INIT_FINAL_BN)
    x = layers.BatchNormalization(
        momentum=0.9, gamma_initializer="zeros" if zero_gamma else "ones", name=name + "_bn"
    )(x)
    return layers.ReLU(name=name + "_relu")(x) if relu else x


def _block(x, filters, time_kernel, freq_stride, bottleneck, name):
    """One residual block. Bottleneck: Tx1 over time, 3x1 over frequency (strided), 1x1 to 4x
    filters. Basic: 3xT then 3x1. A projection shortcut where the shape changes."""
    out = filters * 4 if bottleneck else filters
    if bottleneck:
        y = _conv_bn_relu(x, filters, (1, time_kernel), (1, 1), name + "_a")
        y = _conv_bn_relu(y, filters, (3, 1), (freq_stride, 1), name + "_b")
        y = _conv_bn_relu(y, out, (1, 1), (1, 1), name + "_c", relu=False, zero_gamma=True)
    else:
        y = _conv_bn_relu(x, filters, (3, time_kernel), (freq_stride, 1), name + "_a")
        y = _conv_bn_relu(y, out, (3, 1), (1, 1), name + "_b", relu=False, zero_gamma=True)
    if freq_stride != 1:
        # the rows a strided 1x1 conv would read, picked by a 1x1 pool: TF 2.21's oneDNN gradient
        # of a strided 1x1 conv segfaults on few channels (4 channels at 64x201 did)
        x = layers.MaxPooling2D((1, 1), strides=(freq_stride, 1), name=name + "_shortcut_rows")(x)
    if x.shape[-1] != out or freq_stride != 1:
        x = _conv_bn_relu(x, out, (1, 1), (1, 1), name + "_shortcut", relu=False)
    x = layers.Add(name=name + "_add")([x, y])
    return layers.ReLU(name=name + "_out")(x)


def _lateral(slow, fast, index, alpha, ratio, kernel):
    """Fast -> slow: a time-strided conv (kernel x 1 over time, stride alpha) to ratio x the fast
    channels, concatenated to the slow stream's channels (the paper's FuseFastToSlow)."""
    fuse = _conv_bn_relu(fast, fast.shape[-1] * ratio, (1, kernel), (1, alpha), f"lateral{index}")
    return layers.Concatenate(name=f"slow_fuse{index}")([slow, fuse])


def slowfast_audio(
    n_classes,
    input_shape=(128, None, 1),
    alpha=4,
    beta=1 / 8,
    width=64,
    stages=SEED_STAGES,
    bottleneck=True,
    fusion_ratio=2,
    lateral_kernel=7,
    dropout=0.5,
    sample_rate=None,
    samples=None,
    name="slowfast_audio",
):
    """The slow/fast audio CNN. Defaults are the seed's SlowFast R50 (alpha 4, beta 1/8, width 64,
    bottleneck stages 3, 4, 6, 3; about 26 M weights with 128 mels).

    input_shape: (n_mels, frames, 1) log-mel; frames may be None (any length).
    alpha: the slow stream sees frames 0, alpha, 2 alpha, ...; beta: the fast stream's share of
    the channels; width: the slow stem's channels (stage i has width * 2**i inner channels, 4x
    that out with bottleneck blocks); stages: blocks per ResNet stage (their count is free: a
    tiny model may use (1, 1)); the first stage keeps the frequency resolution, each later one
    halves it.
    sample_rate, samples: give both and the model takes (B, samples) waveforms in [-1, 1] and
    computes :func:`seed_log_mel` inside (layer "log_mel"), so it is dreamable and explainable
    on raw audio; input_shape[0] is then the number of mel bands.
    """
    if alpha < 1 or not 0 < beta <= 1 or width < 1 or not stages or min(stages) < 1:
        raise ValueError(
            f"slowfast_audio needs alpha >= 1, 0 < beta <= 1, width >= 1 and at least "
            f"one block per stage (got alpha {alpha}, beta {beta}, width {width}, "
            f"stages {tuple(stages)})"
        )
    if sample_rate is not None:
        if not samples:
            raise ValueError("a waveform input needs both sample_rate and samples")
        inputs = keras.Input((samples,), name="waveform")
        x = seed_log_mel(sample_rate, n_mels=input_shape[0])(inputs)
    else:
        inputs = keras.Input(input_shape, name="log_mel")
        x = inputs
    fast_width = max(1, round(width * beta))

    # the slow stream's input: every alpha-th frame (a 1x1 pool with stride alpha picks them)
    slow = layers.MaxPooling2D((1, 1), strides=(1, alpha), name="slow_frames")(x)
    slow = _conv_bn_relu(slow, width, (7, 1), (2, 2), "slow_stem_conv")
    fast = _conv_bn_relu(x, fast_width, (7, 5), (2, 2), "fast_stem_conv")
    slow = _lateral(slow, fast, 1, alpha, fusion_ratio, lateral_kernel)

    for i, blocks in enumerate(stages):
        stage = f"res{i + 2}"
        freq_stride = 1 if i == 0 else 2
        slow_time = 3 if i >= len(stages) // 2 else 1
        for b in range(blocks):
            stride = freq_stride if b == 0 else 1
            slow = _block(
                slow, width * 2**i, slow_time, stride, bottleneck, f"slow_{stage}_block{b + 1}"
            )
            fast = _block(
                fast, fast_width * 2**i, 3, stride, bottleneck, f"fast_{stage}_block{b + 1}"
            )
        if i < len(stages) - 1:
            slow = _lateral(slow, fast, i + 2, alpha, fusion_ratio, lateral_kernel)

    slow = layers.GlobalAveragePooling2D(name="slow_pool")(slow)
    fast = layers.GlobalAveragePooling2D(name="fast_pool")(fast)
    x = layers.Concatenate(name="concat")([slow, fast])
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def stream_features(model):
    """{"slow": name, "fast": name}: the last layer of each stream before its pooling, the layers
    Grad-CAM takes (spatial maps of frequency x time, the slow one alpha times coarser in time)."""
    names = {}
    for stream in ("slow", "fast"):
        pooled = model.get_layer(f"{stream}_pool").input
        names[stream] = next(layer.name for layer in model.layers if layer.output is pooled)
    return names
