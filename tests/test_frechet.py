import numpy as np
import pytest

from tfam.train.frechet import frechet_distance


def test_identical_sets_are_at_zero_and_shifted_means_add_their_square():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((500, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-4)
    assert frechet_distance(a, a + [2.0, 0.0, 0.0]) == pytest.approx(4.0, rel=1e-3)


def test_matches_the_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((20000, 2)) * [1.0, 2.0]
    b = rng.standard_normal((20000, 2)) * [3.0, 2.0] + [1.0, 0.0]
    # 1-D terms: (mu diff)^2 + (s_a - s_b)^2 per axis for diagonal covariances
    assert frechet_distance(a, b) == pytest.approx(1.0 + (1 - 3) ** 2 + 0.0, rel=0.03)


def test_bad_shapes_are_clear():
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="at least two"):
        frechet_distance(np.zeros((1, 2)), np.zeros((3, 2)))
