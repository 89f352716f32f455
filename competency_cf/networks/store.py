"""The one weights format: `models/<domain>/` with safetensors files and `model.json`.

`model.json` records the architectures, input size, class names, training provenance and the
sha256 of each weights file. Loading checks every hash and every tensor shape, and refuses a
missing, corrupt or mismatched file with its path named. Nothing here unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from competency_cf.networks.autoencoder import ConvAutoencoder
from competency_cf.networks.classifier import ConvClassifier

MODEL_JSON = "model.json"
CLASSIFIER_FILE = "classifier.safetensors"
AUTOENCODER_FILE = "autoencoder.safetensors"
FORMAT_VERSION = 1


class ModelFileError(RuntimeError):
    """A model file is missing, corrupt or does not match its description in model.json."""


@dataclass
class DomainModels:
    """A classifier and autoencoder pair with the metadata they were saved with."""

    classifier: ConvClassifier
    autoencoder: ConvAutoencoder
    class_names: tuple[str, ...]
    image_size: int
    info: dict
    directory: Path | None = None

    def eval(self) -> "DomainModels":
        self.classifier.eval()
        self.autoencoder.eval()
        return self

    def to(self, device: str | torch.device) -> "DomainModels":
        self.classifier.to(device)
        self.autoencoder.to(device)
        return self


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_models(directory: str | Path, models: DomainModels, provenance: dict) -> Path:
    """Write both weights files and model.json (with their hashes) into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = {CLASSIFIER_FILE: models.classifier, AUTOENCODER_FILE: models.autoencoder}
    hashes = {}
    for name, module in files.items():
        state = {key: value.detach().cpu().contiguous()
                 for key, value in module.state_dict().items()}
        save_file(state, str(directory / name), metadata={"format": "competency_cf"})
        hashes[name] = sha256_of(directory / name)
    description = {
        "format_version": FORMAT_VERSION,
        "input": {"size": models.image_size, "channels": 3, "range": [0.0, 1.0],
                  "layout": "NCHW", "color": "RGB"},
        "class_names": list(models.class_names),
        "classifier": {"file": CLASSIFIER_FILE, "architecture": "ConvClassifier",
                       "config": models.classifier.config},
        "autoencoder": {"file": AUTOENCODER_FILE, "architecture": "ConvAutoencoder",
                        "config": models.autoencoder.config},
        "sha256": hashes,
        "training": provenance,
    }
    (directory / MODEL_JSON).write_text(json.dumps(description, indent=2) + "\n")
    return directory


def read_model_json(directory: Path) -> dict:
    path = directory / MODEL_JSON
    if not path.is_file():
        raise ModelFileError(f"{path}: not found (train a model with `competency-cf train`)")
    try:
        description = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{path}: not valid JSON ({error})") from None
    for key in ("class_names", "input", "classifier", "autoencoder", "sha256"):
        if key not in description:
            raise ModelFileError(f"{path}: missing key {key!r}")
    return description


def _load_weights(module: torch.nn.Module, path: Path, expected_sha256: str | None) -> None:
    if not path.is_file():
        raise ModelFileError(f"{path}: weights file not found")
    actual = sha256_of(path)
    if expected_sha256 is None or actual != expected_sha256:
        raise ModelFileError(f"{path}: sha256 {actual} does not match model.json "
                             f"({expected_sha256}); the file is corrupt or was replaced")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{path}: not a readable safetensors file ({error})") from None
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelFileError(f"{path}: weights do not match the architecture in model.json: "
                             f"{error}") from None


def load_models(directory: str | Path, device: str | torch.device = "cpu") -> DomainModels:
    """Load a `models/<domain>/` directory, checking hashes and shapes; models are in eval mode."""
    directory = Path(directory)
    description = read_model_json(directory)
    model_json = directory / MODEL_JSON
    try:
        classifier = ConvClassifier(**description["classifier"]["config"])
        autoencoder = ConvAutoencoder(**description["autoencoder"]["config"])
        image_size = int(description["input"]["size"])
    except (TypeError, KeyError, ValueError) as error:
        raise ModelFileError(f"{model_json}: invalid architecture description ({error})") from None
    class_names = tuple(description["class_names"])
    if classifier.config["num_classes"] != len(class_names):
        raise ModelFileError(f"{model_json}: {len(class_names)} class names but the classifier "
                             f"has {classifier.config['num_classes']} outputs")
    for section, module in (("classifier", classifier), ("autoencoder", autoencoder)):
        name = description[section].get("file", "")
        _load_weights(module, directory / name, description["sha256"].get(name))
    models = DomainModels(classifier, autoencoder, class_names, image_size, description, directory)
    return models.to(device).eval()
