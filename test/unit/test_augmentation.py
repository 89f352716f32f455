import pytest
import torch

from competency_cf.data.augmentation import (augmented, augmix_copy, check_augmentation,
                                             corrupted_copy)
from competency_cf.data.corruptions import SEVERITIES, corrupt
from competency_cf.data.dataset import ImageSet
from tiny_data import class_images


@pytest.mark.parametrize("names, message", [
    ((), "at least one"),
    (("gaussian_blur", "gaussian_blur"), "repeat"),
    (("gaussian_blur", "fog"), "tuning corruptions"),
    (("contrast",), "got contrast"),
])
def test_only_distinct_tuning_corruptions_are_accepted(names, message):
    with pytest.raises(ValueError, match=message):
        check_augmentation(names)


def test_each_copy_is_its_source_under_one_corruption_and_severity():
    images, _ = class_images(12, seed=3)
    copy = corrupted_copy(images, ["gaussian_blur"], seed=5)
    assert copy.shape == images.shape and copy.dtype == torch.float32
    assert 0.0 <= copy.min() and copy.max() <= 1.0
    severities = set()
    for index in range(len(images)):
        # Gaussian blur draws nothing at random, so each image equals one severity's blur.
        matches = [severity for severity in SEVERITIES
                   if torch.allclose(copy[index], corrupt(images[index:index + 1], "gaussian_blur",
                                                          severity)[0], atol=1e-6)]
        assert len(matches) >= 1
        severities.update(matches)
    assert len(severities) >= 3  # severities are drawn, not fixed


def test_the_copy_depends_on_the_seed_only():
    images, _ = class_images(8, seed=4)
    names = ["speckle_noise", "gaussian_blur"]
    first = corrupted_copy(images, names, seed=1)
    assert torch.equal(first, corrupted_copy(images, names, seed=1))
    assert not torch.equal(corrupted_copy(images, names, seed=1),
                           corrupted_copy(images, names, seed=2))
    assert not torch.equal(corrupted_copy(images, names, seed=1), images)


def test_augmented_set_is_the_set_then_its_copy():
    images, labels = class_images(6, seed=5)
    data = augmented(ImageSet(images, labels), ["speckle_noise"], seed=0)
    assert len(data) == 12
    assert torch.equal(data.images[:6], images)
    assert torch.equal(data.labels, torch.cat([labels, labels]))
    assert not torch.equal(data.images[6:], images)


def test_augmix_copy_is_seeded_in_range_and_leaves_the_global_random_state_alone():
    images, _ = class_images(8, seed=6)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    copy = augmix_copy(images, seed=1)
    assert torch.equal(torch.rand(1), expected_next)
    assert copy.shape == images.shape and copy.dtype == torch.float32
    assert 0.0 <= copy.min() and copy.max() <= 1.0
    assert torch.equal(copy, augmix_copy(images, seed=1))
    assert not torch.equal(copy, augmix_copy(images, seed=2))
    # Every image is changed, but stays close to its source: a mix, not a new picture.
    changed = (copy - images).abs().flatten(1).mean(dim=1)
    assert (changed > 1.0 / 255.0).all()
    assert (changed < (torch.rand_like(images) - images).abs().flatten(1).mean(dim=1)).all()


def test_augmented_set_appends_the_corrupted_then_the_augmix_copy():
    images, labels = class_images(6, seed=7)
    data = augmented(ImageSet(images, labels), ["gaussian_blur"], seed=3, augmix=True)
    assert len(data) == 18
    assert torch.equal(data.images[:6], images)
    assert torch.equal(data.images[6:12], corrupted_copy(images, ["gaussian_blur"], seed=3))
    assert torch.equal(data.images[12:], augmix_copy(images, seed=3))
    assert torch.equal(data.labels, labels.repeat(3))
    assert len(augmented(ImageSet(images, labels), augmix=True)) == 12
    with pytest.raises(ValueError, match="corruptions, AugMix or both"):
        augmented(ImageSet(images, labels))
