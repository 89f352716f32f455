import json

import pytest
import torch

from competency_cf.networks.autoencoder import ConvAutoencoder
from competency_cf.networks.classifier import ConvClassifier
from competency_cf.networks.store import (DomainModels, ModelFileError, load_models, save_models)


def tiny_models():
    torch.manual_seed(0)
    return DomainModels(ConvClassifier(3, channels=(4, 8), feature_dim=8),
                        ConvAutoencoder(16, channels=(4, 8), latent_dim=6),
                        ("a", "b", "c"), 16, {})


@pytest.fixture
def saved(tmp_path):
    models = tiny_models()
    save_models(tmp_path, models, {"note": "fixture"})
    return tmp_path, models


def test_round_trip_gives_identical_outputs(saved):
    directory, models = saved
    loaded = load_models(directory)
    x = torch.rand((2, 3, 16, 16))
    models.eval()
    assert torch.equal(loaded.classifier(x), models.classifier(x))
    assert torch.equal(loaded.autoencoder(x), models.autoencoder(x))
    assert loaded.class_names == ("a", "b", "c")
    assert loaded.info["training"] == {"note": "fixture"}
    assert not loaded.classifier.training


def test_model_json_records_hashes_and_architecture(saved):
    directory, _ = saved
    description = json.loads((directory / "model.json").read_text())
    assert set(description["sha256"]) == {"classifier.safetensors", "autoencoder.safetensors"}
    assert description["autoencoder"]["config"]["latent_dim"] == 6
    assert description["input"]["size"] == 16


def test_corrupt_weights_refused_with_path(saved):
    directory, _ = saved
    path = directory / "classifier.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=str(path)):
        load_models(directory)


def test_truncated_weights_with_matching_hash_refused(saved):
    directory, _ = saved
    from competency_cf.networks.store import sha256_of
    path = directory / "autoencoder.safetensors"
    path.write_bytes(b"not a safetensors file")
    description = json.loads((directory / "model.json").read_text())
    description["sha256"]["autoencoder.safetensors"] = sha256_of(path)
    (directory / "model.json").write_text(json.dumps(description))
    with pytest.raises(ModelFileError, match="not a readable safetensors"):
        load_models(directory)


def test_mismatched_architecture_refused(saved):
    directory, _ = saved
    description = json.loads((directory / "model.json").read_text())
    description["classifier"]["config"]["feature_dim"] = 9
    (directory / "model.json").write_text(json.dumps(description))
    with pytest.raises(ModelFileError, match="classifier.safetensors.*architecture"):
        load_models(directory)


def test_missing_files_named(tmp_path, saved):
    with pytest.raises(ModelFileError, match="model.json: not found"):
        load_models(tmp_path / "empty")
    directory, _ = saved
    (directory / "autoencoder.safetensors").unlink()
    with pytest.raises(ModelFileError, match="autoencoder.safetensors: weights file not found"):
        load_models(directory)


def test_invalid_json_refused(saved):
    directory, _ = saved
    (directory / "model.json").write_text("{")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_models(directory)
