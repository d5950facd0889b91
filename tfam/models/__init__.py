"""The model zoo: plain functions that build functional Keras models with named layers."""

from tfam.models.mnist_cnn import mnist_cnn
from tfam.models.slowfast_audio import slowfast_audio
from tfam.models.urbansound_cnn import urbansound_cnn, urbansound_timepool_cnn

__all__ = ["mnist_cnn", "slowfast_audio", "urbansound_cnn", "urbansound_timepool_cnn"]
