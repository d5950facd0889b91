"""The model zoo: plain functions that build functional Keras models with named layers."""
from tfam.models.mnist_cnn import mnist_cnn
from tfam.models.urbansound_cnn import urbansound_cnn, urbansound_timepool_cnn

__all__ = ["mnist_cnn", "urbansound_cnn", "urbansound_timepool_cnn"]
