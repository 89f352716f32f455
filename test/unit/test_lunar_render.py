import numpy as np
import pytest

from competency_cf.data.lunar import (CLASS_NAMES, OOD_NAME, render_lunar,
                                      render_lunar_ood)


def assert_valid_image(image, size):
    assert image.shape == (3, size, size)
    assert image.dtype == np.float32
    assert np.isfinite(image).all()
    assert image.min() >= 0.0 and image.max() <= 1.0


def test_eight_classes_and_an_ood_name():
    assert len(CLASS_NAMES) == 8 and len(set(CLASS_NAMES)) == 8
    assert OOD_NAME == "human_made_structures"


@pytest.mark.parametrize("label", range(len(CLASS_NAMES)))
def test_every_class_renders_a_valid_nonblank_image(label):
    image = render_lunar(np.random.default_rng(label), label)
    assert_valid_image(image, 64)
    # Terrain is visible: not a uniform frame.
    assert image.std() > 0.02


def test_size_argument_sets_output_resolution():
    assert_valid_image(render_lunar(np.random.default_rng(0), 0, size=32), 32)


def test_same_seed_gives_identical_images():
    for label in (0, 6):
        first = render_lunar(np.random.default_rng(123), label)
        second = render_lunar(np.random.default_rng(123), label)
        np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(render_lunar_ood(np.random.default_rng(5)),
                                  render_lunar_ood(np.random.default_rng(5)))


def test_different_seeds_give_different_images():
    first = render_lunar(np.random.default_rng(1), 3)
    second = render_lunar(np.random.default_rng(2), 3)
    assert np.abs(first - second).mean() > 0.01


def test_rendering_does_not_touch_global_random_state():
    np.random.seed(7)
    expected = np.random.random()
    np.random.seed(7)
    render_lunar(np.random.default_rng(0), 4)
    render_lunar_ood(np.random.default_rng(0))
    assert np.random.random() == expected


@pytest.mark.parametrize("label", [-1, 8, 100])
def test_out_of_range_label_raises_value_error_naming_it(label):
    with pytest.raises(ValueError, match=str(label)):
        render_lunar(np.random.default_rng(0), label)


def test_non_integer_label_raises_value_error():
    with pytest.raises(ValueError, match="1.5"):
        render_lunar(np.random.default_rng(0), 1.5)


def test_numpy_integer_labels_are_accepted():
    assert_valid_image(render_lunar(np.random.default_rng(0), np.int64(2)), 64)


def test_ood_images_render():
    for seed in range(3):
        image = render_lunar_ood(np.random.default_rng(seed))
        assert_valid_image(image, 64)
        assert image.std() > 0.02
