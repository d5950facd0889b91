"""Which axes of an input are spatial (time, height, width) and which is the channel axis.

tfam's components work on any rank: audio (B, samples) or (B, samples, channels), images and
spectrograms (B, H, W) or (B, H, W, C). A rank-3 tensor (B, a, b) is ambiguous; it is read as
audio with channels when b is small (at most 4 channels), otherwise as a 2-D input without channels.
Pass ``spatial_rank`` explicitly wherever that guess could be wrong.
"""

MAX_AUDIO_CHANNELS = 4


class Layout:
    """The spatial axes and the channel axis (or None) of a batched input of a given rank."""

    def __init__(self, rank, spatial_axes, channel_axis):
        self.rank = rank
        self.spatial_axes = tuple(spatial_axes)
        self.channel_axis = channel_axis

    @property
    def spatial_rank(self):
        return len(self.spatial_axes)

    def __repr__(self):
        return f"Layout(rank={self.rank}, spatial={self.spatial_axes}, channel={self.channel_axis})"


def layout_of(shape, spatial_rank=None):
    """Layout of a batched shape such as (B, 28, 28, 1) or (B, 32000).

    ``shape`` includes the batch axis (its size may be None).
    """
    rank = len(shape)
    if rank < 2 or rank > 4:
        raise ValueError(
            f"inputs of rank {rank} (shape {tuple(shape)}) are not supported: "
            "expected (B, samples[, channels]) or (B, H, W[, channels])"
        )
    if spatial_rank is None:
        if rank == 2:
            spatial_rank = 1
        elif rank == 4:
            spatial_rank = 2
        else:
            last = shape[-1]
            spatial_rank = 1 if (last is not None and last <= MAX_AUDIO_CHANNELS) else 2
    if spatial_rank not in (1, 2):
        raise ValueError(f"spatial_rank must be 1 or 2, got {spatial_rank}")
    spatial = tuple(range(1, 1 + spatial_rank))
    channel = rank - 1 if rank - 1 > spatial_rank else None
    if rank - 1 - spatial_rank not in (0, 1):
        raise ValueError(f"shape {tuple(shape)} does not fit spatial_rank={spatial_rank}")
    return Layout(rank, spatial, channel)
