"""perception_node: PaRCE competency for the newest camera frame, and the low-competency trigger.

The image callback only stores the newest frame; a timer at `max_rate_hz` wakes the node's
scoring thread, which takes that frame, so a slow model drops stale frames instead of queueing
them. One thread does all full-resolution work, so its large buffers are reused rather than
spread over the executor's threads (and their allocator arenas). Outputs carry the source
frame's header.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Float32, String

from competency_cf.ros.image_codec import (ImageDecodeError, encode, is_compressed, rgb_to_tensor,
                                           to_rgb, to_rgb8)
from competency_cf.ros.latest import LatestSlot
from competency_cf.ros.managed_node import ManagedNode
from competency_cf.ros.overlay import debug_overlay
from competency_cf.ros.parameters import COMMON, Param, declare, read
from competency_cf.ros.trigger import LowCompetencyTrigger
from competency_cf.ros.worker import Worker

PARAMS = COMMON + (
    Param("image_topic", "/camera/image_raw", "camera topic (sensor_msgs/Image)",
          read_only=True),
    Param("input_transport", "raw", "raw: sensor_msgs/Image on image_topic; compressed: "
          "sensor_msgs/CompressedImage on image_topic/compressed", choices=("raw", "compressed"),
          read_only=True),
    Param("backend", "torch", "inference runtime: torch, or onnx (needs "
          "`competency-cf export-onnx`)", choices=("torch", "onnx"), read_only=True),
    Param("providers", "", "ONNX Runtime providers, comma-separated (empty: CUDA when "
          "available, else CPU)", read_only=True),
    Param("max_rate_hz", 10.0, "most frames scored per second", 0.1, 200.0),
    Param("competency_threshold", -1.0, "trigger below this competency; -1: the model's "
          "threshold (parce.json)", -1.0, 1.0),
    Param("hysteresis", 0.02, "competency must rise this far above the threshold to re-arm",
          0.0, 0.5),
    Param("cooldown_s", 2.0, "least time between two triggers (s)", 0.0, 600.0),
    Param("publish_debug_image", True, "publish ~/debug_image"),
    Param("explanation_topic", "/explainer_node/explanation",
          "explanations drawn on the debug image", read_only=True),
)


def stamp_seconds(header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def load_models(node, values: dict):
    """The estimator from `models_dir` (or the installed domain); raises with the path named."""
    from competency_cf.competency.parce import load_estimator
    from competency_cf.resources import models_dir

    directory = Path(values["models_dir"]) if values["models_dir"] else \
        models_dir(values["domain"])
    estimator = load_estimator(directory, values["device"], kind=values["estimator"])
    return directory, estimator


class PerceptionNode(ManagedNode):
    def __init__(self, name: str = "perception_node", **kwargs):
        super().__init__(name, **kwargs)
        declare(self, PARAMS)
        self.frames = LatestSlot()
        self.estimator = self.scorer = None
        self.processed = self.bad_frames = self.errors = 0
        self.latency_ms = 0.0
        self.last = {}
        self.explanation = ""
        self._last_warning = 0.0
        self.trigger = self.rate_timer = None
        self.add_post_set_parameters_callback(self._apply_live_parameters)

    # -- lifecycle ------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self.values = read(self, PARAMS)
            self.models, self.estimator = load_models(self, self.values)
        except (FileNotFoundError, ValueError, RuntimeError) as error:
            self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        try:
            self.scorer = self._scorer()
        except (FileNotFoundError, ValueError) as error:
            self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        self.threshold = self._threshold(self.values["competency_threshold"])
        self.trigger = LowCompetencyTrigger(self.threshold, self.values["hysteresis"],
                                            self.values["cooldown_s"])
        self.size = int(self.estimator.autoencoder.config["image_size"])
        self.class_names, self.model_hash = self._model_card()
        with torch.no_grad():  # warm-up: the first call allocates
            self.scorer.evaluate(torch.zeros((1, 3, self.size, self.size),
                                             device=self.values["device"]))
        reliable = QoSProfile(depth=10)
        self.competency_pub = self.lifecycle_publisher(Float32, "~/competency", reliable)
        self.debug_pub = self.lifecycle_publisher(Image, "~/debug_image", reliable)
        self.trigger_pub = self.lifecycle_publisher(Image, "~/low_competency/image", reliable)
        self.diagnostics_pub = self.lifecycle_publisher(DiagnosticArray, "/diagnostics",
                                                        reliable)
        self.get_logger().info(f"configured: models {self.models}, threshold "
                               f"{self.threshold:.3f}, device {self.values['device']}")
        return TransitionCallbackReturn.SUCCESS

    def _threshold(self, parameter: float) -> float:
        return self.estimator.threshold if parameter < 0 else parameter

    def _apply_live_parameters(self, parameters) -> None:
        """The trigger settings and the scoring rate take effect as soon as they are set (from
        rqt or `ros2 param set`), not at the next configure."""
        values = {parameter.name: parameter.value for parameter in parameters}
        if self.trigger is not None and self.estimator is not None:
            if "competency_threshold" in values:
                self.threshold = self.trigger.threshold = self._threshold(
                    values["competency_threshold"])
            if "hysteresis" in values:
                self.trigger.hysteresis = values["hysteresis"]
            if "cooldown_s" in values:
                self.trigger.cooldown_s = values["cooldown_s"]
        if "max_rate_hz" in values and self.rate_timer in self.inputs:  # active
            self.rate_timer.timer_period_ns = int(1e9 / values["max_rate_hz"])

    def _scorer(self):
        """The estimator itself (torch), or an ONNX Runtime session on the exported graph."""
        if self.values["backend"] == "torch":
            return self.estimator
        from competency_cf.competency.onnx_backend import ONNX_FILE, OnnxCompetency

        requested = [p.strip() for p in self.values["providers"].split(",") if p.strip()]
        scorer = OnnxCompetency(self.models / ONNX_FILE, self.estimator,
                                requested or None)
        if not requested and scorer.provider != "CUDAExecutionProvider":
            self.get_logger().warning(f"ONNX Runtime runs on {scorer.provider} (no CUDA provider "
                                      "here)")
        else:
            self.get_logger().info(f"ONNX Runtime runs on {scorer.provider}")
        return scorer

    def _model_card(self) -> tuple[list[str], str]:
        """Class names and a short hash of the weights, from model.json."""
        import json

        try:
            card = json.loads((self.models / "model.json").read_text())
            digest = "+".join(value[:12] for value in card["sha256"].values())
            return list(card["class_names"]), digest
        except (OSError, KeyError, ValueError, AttributeError):
            return [], "unknown"

    def on_activate(self, state) -> TransitionCallbackReturn:
        self.worker = Worker(self._process, self._failed, name="perception").start()
        self.rate_timer = self.create_timer(1.0 / self.get_parameter("max_rate_hz").value,
                                            self.worker.notify)
        self.inputs = [
            self.create_subscription(
                *self._camera_input(), self.frames.put, qos_profile_sensor_data,
                qos_overriding_options=QoSOverridingOptions.with_default_policies(),
                event_callbacks=_incompatible_qos_warning(self)),
            self.create_subscription(String, self.values["explanation_topic"],
                                     self._on_explanation, QoSProfile(depth=10)),
            self.worker,
            self.rate_timer,
            self.create_timer(1.0, self._publish_diagnostics),
        ]
        self._started = time.monotonic()
        return super().on_activate(state)

    def _camera_input(self) -> tuple[type, str]:
        if self.values["input_transport"] == "compressed":
            return CompressedImage, self.values["image_topic"].rstrip("/") + "/compressed"
        return Image, self.values["image_topic"]

    def release(self) -> None:
        self.estimator = self.scorer = None

    # -- work -------------------------------------------------------------------------------
    def _on_explanation(self, msg: String) -> None:
        self.explanation = msg.data

    def _warn_rate_limited(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last_warning > 5.0:
            self._last_warning = now
            self.get_logger().warning(text)

    def _failed(self, error: Exception) -> None:
        self.errors += 1
        self._warn_rate_limited(f"scoring a frame failed: {error!r} ({self.errors} so far)")

    def _process(self) -> bool:
        """Score the newest frame. Always False: one frame per timer tick."""
        msg = self.frames.take()
        if msg is None or self.scorer is None:
            return False
        started = time.perf_counter()
        try:
            rgb = to_rgb(msg)
        except ImageDecodeError as error:
            self.bad_frames += 1
            self._warn_rate_limited(f"skipping a frame: {error} ({self.bad_frames} so far)")
            return False
        with torch.no_grad():
            result = self.scorer.evaluate(rgb_to_tensor(rgb, self.size, self.values["device"]))
        competency = float(result.competency[0])
        prediction = int(result.prediction[0])
        self.latency_ms = (time.perf_counter() - started) * 1000.0
        self.processed += 1
        label = (self.class_names[prediction] if prediction < len(self.class_names)
                 else str(prediction))
        self.last = {"class": label, "competency": f"{competency:.4f}",
                     "p_max": f"{float(result.p_max[0]):.4f}",
                     "p_id": f"{float(result.p_in_distribution[0]):.4f}"}
        self.competency_pub.publish(Float32(data=competency))
        frame = to_rgb8(rgb)
        if self.trigger.update(competency, stamp_seconds(msg.header)):
            # The original frame and header; a compressed frame goes out decoded, as rgb8.
            self.trigger_pub.publish(encode(frame, "rgb8", msg.header) if is_compressed(msg)
                                     else msg)
            self.get_logger().info(f"low competency {competency:.3f} ({label}): triggered")
        if self.get_parameter("publish_debug_image").value:
            self.debug_pub.publish(encode(debug_overlay(frame, competency, self.threshold, label,
                                                        self.explanation), "rgb8", msg.header))
        return False

    def _publish_diagnostics(self) -> None:
        elapsed = max(1e-6, time.monotonic() - self._started)
        values = {"input_rate_hz": f"{self.frames.received / elapsed:.2f}",
                  "processed_rate_hz": f"{self.processed / elapsed:.2f}",
                  "dropped_frames": str(self.frames.dropped), "bad_frames": str(self.bad_frames),
                  "errors": str(self.errors),
                  "latency_ms": f"{self.latency_ms:.2f}", "device": self.values["device"],
                  "backend": getattr(self.scorer, "provider", "torch"),
                  "model_sha256": self.model_hash,
                  "triggers": str(self.trigger.fired), **self.last}
        status = DiagnosticStatus(level=DiagnosticStatus.OK, name=f"{self.get_name()}: PaRCE",
                                  message="scoring", hardware_id=str(self.models),
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)


def _incompatible_qos_warning(node):
    try:
        from rclpy.event_handler import SubscriptionEventCallbacks
    except ImportError:  # Humble
        from rclpy.qos_event import SubscriptionEventCallbacks

    def warn(event):
        node.get_logger().warning(
            f"a publisher on {node.values['image_topic']} has incompatible QoS "
            f"(policy {event.last_policy_kind}); set qos_overrides for the subscription")

    return SubscriptionEventCallbacks(incompatible_qos=warn)
