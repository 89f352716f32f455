import numpy as np
import pytest
import torch
from PIL import Image

from competency_cf.data.dataset import (DomainData, ImageSet, check_images, load_image_folder,
                                        load_npz, save_npz, stratified_split)


def make_set(count, label_count=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand((count, 3, 8, 8), generator=generator)
    return ImageSet(images, torch.arange(count) % label_count)


def test_npz_round_trip_uses_paper_key_names(tmp_path):
    data = DomainData(("a", "b", "c"), make_set(12), make_set(6, seed=1), make_set(3, seed=2),
                      ImageSet(torch.rand((2, 3, 8, 8)), torch.full((2,), -1)))
    path = tmp_path / "dataset.npz"
    save_npz(data, path)
    keys = set(np.load(path).files)
    assert {"train_data", "val_data", "test_data", "ood_data", "train_labels"} <= keys
    loaded = load_npz(path)
    assert loaded.class_names == ("a", "b", "c")
    for split in ("train", "calibration", "test", "ood"):
        assert torch.equal(loaded.split(split).images, data.split(split).images)
        assert torch.equal(loaded.split(split).labels, data.split(split).labels)


def test_paper_npz_without_class_names(tmp_path):
    arrays = {f"{k}_data": np.random.rand(4, 3, 8, 8).astype(np.float32)
              for k in ("train", "val", "test", "ood")}
    arrays |= {f"{k}_labels": np.array([0, 1, 2, 1]) for k in ("train", "val", "test", "ood")}
    np.savez(tmp_path / "d.npz", **arrays)
    assert load_npz(tmp_path / "d.npz").class_names == ("0", "1", "2")


def test_npz_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_npz(tmp_path / "missing.npz")
    np.savez(tmp_path / "partial.npz", train_data=np.zeros((1, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="missing arrays .*val_data"):
        load_npz(tmp_path / "partial.npz")
    arrays = {f"{k}_data": np.full((2, 3, 4, 4), 2.0, np.float32)
              for k in ("train", "val", "test", "ood")}
    arrays |= {f"{k}_labels": np.array([0, 1]) for k in ("train", "val", "test", "ood")}
    np.savez(tmp_path / "range.npz", **arrays)
    with pytest.raises(ValueError, match=r"train: .*\[0, 1\]"):
        load_npz(tmp_path / "range.npz")


def test_image_folder_layout(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("00001", "00000"):
        (tmp_path / "train" / name).mkdir(parents=True)
        for index in range(10):
            pixels = rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "train" / name / f"{index}.ppm")
    (tmp_path / "ood").mkdir()
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "ood" / "x.png")
    data = load_image_folder(tmp_path / "train", size=16, ood_dir=tmp_path / "ood")
    assert data.class_names == ("00000", "00001")
    assert len(data.train) + len(data.calibration) + len(data.test) == 20
    assert data.train.images.shape[1:] == (3, 16, 16)
    assert len(data.ood) == 1 and data.ood.labels.tolist() == [-1]


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image_folder(tmp_path / "nope")
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ValueError, match="no images"):
        load_image_folder(tmp_path)


def test_stratified_split_fractions():
    labels = np.repeat(np.arange(4), 100)
    parts = stratified_split(labels, seed=3)
    assert [len(parts[k]) for k in ("train", "calibration", "test")] == [288, 72, 40]
    together = np.concatenate(list(parts.values()))
    assert len(np.unique(together)) == 400
    for label in range(4):
        assert (labels[parts["test"]] == label).sum() == 10


@pytest.mark.parametrize("bad, message", [
    (torch.rand(3, 8, 8), "shape"),
    (torch.rand(1, 1, 8, 8), "shape"),
    (torch.zeros((1, 3, 8, 8), dtype=torch.uint8), "float"),
    (torch.full((1, 3, 2, 2), float("nan")), "NaN"),
    (torch.full((1, 3, 2, 2), 1.5), r"\[0, 1\]"),
])
def test_check_images_rejects_bad_input(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        check_images(bad)
