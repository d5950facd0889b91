import numpy as np
import pytest

from tfam.data.digits import embedded_digits, load_mnist


def test_embedded_digits_look_like_mnist():
    (x, y), (x_test, y_test) = embedded_digits()
    assert x.shape[1:] == (28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert len(x) + len(x_test) == 1797 and set(y) == set(range(10))
    assert x[:, :4].max() == 0.0 and x[:, 24:].max() == 0.0  # digits centred in 20x20, as MNIST's


def test_mnist_reader_loads_a_keras_format_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        y_train=np.arange(6, dtype=np.uint8),
        x_test=np.full((2, 28, 28), 255, np.uint8),
        y_test=np.array([3, 4], np.uint8),
    )
    (x, y), (x_test, y_test) = load_mnist(str(path))
    assert x.shape == (6, 28, 28, 1) and x.dtype == np.float32 and x.max() <= 1.0
    assert list(y) == list(range(6)) and x_test.min() == 1.0 and list(y_test) == [3, 4]


def test_mnist_reader_says_where_the_file_belongs(tmp_path):
    with pytest.raises(FileNotFoundError, match="put the Keras-format mnist.npz there"):
        load_mnist(str(tmp_path / "mnist.npz"))


def test_mnist_reader_rejects_a_file_of_another_layout(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, images=np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="not a Keras-format mnist.npz"):
        load_mnist(str(path))
    np.savez(
        path,
        x_train=np.zeros((2, 32, 32)),
        y_train=np.zeros(2),
        x_test=np.zeros((1, 28, 28)),
        y_test=np.zeros(1),
    )
    with pytest.raises(ValueError, match=r"x_train has shape \(2, 32, 32\)"):
        load_mnist(str(path))
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_mnist(str(path))
