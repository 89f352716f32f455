"""Competency on ONNX Runtime: one exported graph, image -> (logits, reconstruction loss,
features, latent), with a dynamic batch dimension; competency is computed from its outputs by the
estimator's own numpy path (`competency_from_outputs`), with the same calibration as the torch
path, so PaRCE and the fused estimator share one graph.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.special import softmax

from competency_cf.competency.parce import CompetencyResult, ParceEstimator

ONNX_FILE = "competency.onnx"  # next to the models of a domain
OUTPUTS = ("logits", "reconstruction_loss", "features", "latent")


class CompetencyGraph(torch.nn.Module):
    """Both networks as one module, so one ONNX graph runs them together."""

    def __init__(self, estimator: ParceEstimator):
        super().__init__()
        self.classifier, self.autoencoder = estimator.classifier, estimator.autoencoder

    def forward(self, images: torch.Tensor):
        features = self.classifier.features(images)
        latent = self.autoencoder.encode(images)
        loss = (self.autoencoder.decode(latent) - images).pow(2).flatten(1).mean(dim=1)
        return self.classifier.head(features), loss, features, latent


def export_onnx(estimator: ParceEstimator, path: str | Path, image_size: int,
                opset: int = 17) -> Path:
    """Write the graph with a dynamic batch dimension; returns the path."""
    path = Path(path)
    graph = CompetencyGraph(estimator).eval().cpu()
    example = torch.rand((2, 3, image_size, image_size))
    with warnings.catch_warnings():  # the TorchScript exporter announces its successor
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(graph, (example,), str(path), input_names=["images"],
                          output_names=list(OUTPUTS), opset_version=opset, dynamo=False,
                          dynamic_axes={name: {0: "batch"} for name in ("images", *OUTPUTS)})
    return path


def choose_providers(requested: list[str] | None = None) -> list[str]:
    """`requested` if given, else CUDA first when onnxruntime offers it, then CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise ValueError(f"ONNX Runtime providers {missing} are not available here "
                             f"(available: {', '.join(available)})")
        return list(requested)
    preferred = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return preferred or available


class OnnxCompetency:
    """evaluate(images) like the estimator's own evaluate, on an ONNX Runtime session; the
    estimator supplies the calibration (`competency_from_outputs`), not the networks."""

    def __init__(self, path: str | Path, estimator: ParceEstimator,
                 providers: list[str] | None = None, threads: int | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path} "
                                    "(create it with `competency-cf export-onnx`)")
        options = ort.SessionOptions()
        # Idle worker threads would otherwise spin between frames and starve the image decoding
        # and resizing in the same process: at batch 1 that made ONNX slower than torch.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=choose_providers(providers))
        except Exception as error:  # onnxruntime raises its own exception types
            raise ValueError(f"{path}: not a loadable ONNX model ({error})") from error
        names = [output.name for output in self.session.get_outputs()]
        if names != list(OUTPUTS):
            raise ValueError(f"{path}: outputs {names}, expected {list(OUTPUTS)}")
        self.estimator = estimator
        self.threshold = estimator.threshold
        self.provider = self.session.get_providers()[0]

    def outputs(self, images: np.ndarray) -> dict[str, np.ndarray]:
        values = self.session.run(None, {"images": np.ascontiguousarray(images, np.float32)})
        return dict(zip(OUTPUTS, values))

    def evaluate(self, images) -> CompetencyResult:
        """Like ParceEstimator.evaluate, for (N, 3, H, W) images in [0, 1]."""
        if isinstance(images, torch.Tensor):
            images = images.detach().cpu().numpy()
        outputs = self.outputs(images)
        probabilities = softmax(outputs["logits"].astype(np.float64), axis=1)
        losses = outputs["reconstruction_loss"].astype(np.float64)
        competency, in_distribution = self.estimator.competency_from_outputs(
            outputs["logits"], losses, outputs["features"])
        return CompetencyResult(
            competency=torch.from_numpy(competency).float(),
            prediction=torch.from_numpy(probabilities.argmax(axis=1)),
            p_max=torch.from_numpy(probabilities.max(axis=1)).float(),
            p_in_distribution=torch.from_numpy(in_distribution).float(),
            reconstruction_loss=torch.from_numpy(losses).float(),
            probabilities=torch.from_numpy(probabilities).float())
