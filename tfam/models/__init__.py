"""The model zoo: plain functions that build functional Keras models with named layers."""
from tfam.models.mnist_cnn import mnist_cnn

__all__ = ["mnist_cnn"]
