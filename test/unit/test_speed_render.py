"""Quick checks of the procedural speed-limit sign renderer."""

import numpy as np
import pytest

from competency_cf.data import speed


def _check_image(image: np.ndarray, size: int) -> None:
    assert image.shape == (3, size, size)
    assert image.dtype == np.float32
    assert np.isfinite(image).all()
    assert image.min() >= 0.0 and image.max() <= 1.0
    # A real picture, not a blank canvas.
    assert image.std() > 0.02


def test_class_names_and_ood_name():
    assert speed.CLASS_NAMES == ("30", "50", "60", "70", "80", "100", "120")
    assert speed.OOD_NAME == "20"
    assert speed.OOD_NAME not in speed.CLASS_NAMES


@pytest.mark.parametrize("label", range(len(speed.CLASS_NAMES)))
def test_every_label_renders(label):
    rng = np.random.default_rng(label)
    _check_image(speed.render_speed(rng, label), 64)


def test_other_sizes_render():
    rng = np.random.default_rng(7)
    _check_image(speed.render_speed(rng, 0, size=32), 32)
    _check_image(speed.render_speed(rng, 5, size=96), 96)


def test_same_seed_gives_identical_images():
    first = [speed.render_speed(np.random.default_rng(123), label) for label in (0, 6)]
    second = [speed.render_speed(np.random.default_rng(123), label) for label in (0, 6)]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(speed.render_speed_ood(np.random.default_rng(5)),
                                  speed.render_speed_ood(np.random.default_rng(5)))


def test_different_seeds_give_different_images():
    a = speed.render_speed(np.random.default_rng(1), 2)
    b = speed.render_speed(np.random.default_rng(2), 2)
    assert np.abs(a - b).mean() > 0.01


def test_consecutive_draws_differ():
    rng = np.random.default_rng(0)
    assert not np.array_equal(speed.render_speed(rng, 3), speed.render_speed(rng, 3))


@pytest.mark.parametrize("label", [-1, len(speed.CLASS_NAMES), 99])
def test_invalid_label_raises_and_names_it(label):
    with pytest.raises(ValueError, match=str(label)):
        speed.render_speed(np.random.default_rng(0), label)


def test_non_integer_label_raises():
    with pytest.raises(ValueError, match="'30'"):
        speed.render_speed(np.random.default_rng(0), "30")


def test_ood_sign_renders():
    _check_image(speed.render_speed_ood(np.random.default_rng(11)), 64)
    _check_image(speed.render_speed_ood(np.random.default_rng(12), size=48), 48)
