"""perception_node: PaRCE competency for the newest frame of each camera, and the trigger.

Topics (relative: push a namespace or remap them):
  in   image_raw (or image_raw/compressed)    one per camera, <name>/ prefixed when named
  out  competency (competency_cf_msgs/Competency), debug_image    per camera
  out  low_competency/image    every camera's trigger frames, with their own header
  in   explanation/detail (competency_cf_msgs/Explanation)    drawn on the debug image

Each image callback only stores its camera's newest frame; a timer at `max_rate_hz` wakes the
node's scoring thread, which takes the newest frame of every camera and scores them as one batch,
so a slow model drops stale frames (counted per camera) instead of queueing them. One thread does
all full-resolution work, so its large buffers are reused rather than spread over the executor's
threads (and their allocator arenas). Every output carries its source frame's header.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import torch
from competency_cf_msgs.msg import Competency, Explanation
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image

from competency_cf.ros.image_codec import (ImageDecodeError, encode, is_compressed, rgb_to_tensor,
                                           to_rgb, to_rgb8)
from competency_cf.ros.latest import LatestSlot
from competency_cf.ros.managed_node import ManagedNode, topic
from competency_cf.ros.overlay import debug_overlay
from competency_cf.ros.parameters import COMMON, Param, declare, read
from competency_cf.ros.stamps import stamp_seconds
from competency_cf.competency.trigger import LowCompetencyTrigger
from competency_cf.ros.worker import Worker

PARAMS = COMMON + (
    Param("cameras", [""], "camera names: each reads <name>/image_raw and publishes "
          "<name>/competency and <name>/debug_image; [''] for one camera at the node's "
          "namespace (image_raw, competency, debug_image)", read_only=True),
    Param("input_transport", "raw", "raw: sensor_msgs/Image on image_raw; compressed: "
          "sensor_msgs/CompressedImage on image_raw/compressed", choices=("raw", "compressed"),
          read_only=True),
    Param("backend", "torch", "inference runtime: torch, or onnx (needs "
          "`competency-cf export-onnx`)", choices=("torch", "onnx"), read_only=True),
    Param("providers", "", "ONNX Runtime providers, comma-separated (empty: CUDA when "
          "available, else CPU)", read_only=True),
    Param("max_rate_hz", 10.0, "most scoring rounds per second (each scores every camera's "
          "newest frame as one batch)", 0.1, 200.0),
    Param("competency_threshold", -1.0, "trigger below this competency; -1: the model's "
          "threshold (parce.json)", -1.0, 1.0),
    Param("hysteresis", 0.02, "competency must rise this far above the threshold to re-arm",
          0.0, 0.5),
    Param("cooldown_s", 2.0, "least time between two triggers of one camera (s)", 0.0, 600.0),
    Param("publish_debug_image", True, "publish debug_image"),
    Param("debug_image_max_width", 640, "debug_image is thinned to at most this width (pixels; "
          "0: the frame's own)", 0, 8192),
    Param("stall_s", 3.0, "a camera silent this long turns the diagnostics to WARN (s)",
          0.1, 3600.0, read_only=True),
)

# Timer ticks that may wait while a round runs long: one round is made up, a stall is not.
MAX_PENDING_TICKS = 2


def load_models(node, values: dict):
    """The estimator from `models_dir` (or the installed domain); raises with the path named."""
    from competency_cf.competency.parce import load_estimator
    from competency_cf.resources import models_dir

    directory = Path(values["models_dir"]) if values["models_dir"] else \
        models_dir(values["domain"])
    estimator = load_estimator(directory, values["device"], kind=values["estimator"])
    return directory, estimator


class Camera:
    """One camera input: its newest frame, its trigger and its publishers."""

    def __init__(self, name: str, trigger: LowCompetencyTrigger):
        self.name = name
        self.frames = LatestSlot()
        self.trigger = trigger
        self.received = f"frames_{name}" if name else "frames"  # health counter names
        self.bad = f"bad_frames_{name}" if name else "bad_frames"
        self.last: dict[str, str] = {}
        self.competency_pub = self.debug_pub = None


class PerceptionNode(ManagedNode):
    def __init__(self, name: str = "perception_node", **kwargs):
        super().__init__(name, **kwargs)
        declare(self, PARAMS)
        self.cameras: list[Camera] = []
        self.estimator = self.scorer = None
        self.processed = self.errors = 0
        self.latency_ms = 0.0
        # frame_id -> the newest explanation's text and heat map (None when it places nothing)
        self.explanations: dict[str, tuple[str, np.ndarray | None]] = {}
        self._last_warning = 0.0
        self.rate_timer = None
        self._ticks, self._tick_lock = 0, threading.Lock()
        self.frame_type = Image  # or CompressedImage (input_transport)
        self.add_post_set_parameters_callback(self._apply_live_parameters)

    # -- lifecycle ------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self.values = read(self, PARAMS)
            names = list(self.values["cameras"])
            if len(set(names)) != len(names):
                raise ValueError(f"camera names must differ, got {names}")
            self.models, self.estimator = load_models(self, self.values)
            self.scorer = self._scorer()
        except (FileNotFoundError, ValueError, RuntimeError) as error:
            return self.configure_failed(error)
        self.threshold = self._threshold(self.values["competency_threshold"])
        self.cameras = [Camera(name, LowCompetencyTrigger(
            self.threshold, self.values["hysteresis"], self.values["cooldown_s"]))
            for name in names]
        self.size = int(self.estimator.autoencoder.config["image_size"])
        self.class_names, self.model_hash = self._model_card()
        with torch.no_grad():  # warm-up: the first call allocates
            self.scorer.evaluate(torch.zeros((len(names), 3, self.size, self.size),
                                             device=self.values["device"]))
        reliable = QoSProfile(depth=10)
        for camera in self.cameras:
            camera.competency_pub = self.lifecycle_publisher(
                Competency, topic(camera.name, "competency"), reliable)
            camera.debug_pub = self.lifecycle_publisher(
                Image, topic(camera.name, "debug_image"), reliable)
        self.trigger_pub = self.lifecycle_publisher(Image, "low_competency/image", reliable)
        self.health.stall_s = self.values["stall_s"]
        self.get_logger().info(f"configured: models {self.models}, threshold "
                               f"{self.threshold:.3f}, device {self.values['device']}, "
                               f"{len(self.cameras)} camera(s)")
        return super().on_configure(state)

    def _threshold(self, parameter: float) -> float:
        return self.estimator.threshold if parameter < 0 else parameter

    def _apply_live_parameters(self, parameters) -> None:
        """The trigger settings and the scoring rate take effect as soon as they are set (from
        rqt or `ros2 param set`), not at the next configure."""
        values = {parameter.name: parameter.value for parameter in parameters}
        if self.estimator is not None:
            if "competency_threshold" in values:
                self.threshold = self._threshold(values["competency_threshold"])
            for camera in self.cameras:
                camera.trigger.threshold = self.threshold
                camera.trigger.hysteresis = values.get("hysteresis", camera.trigger.hysteresis)
                camera.trigger.cooldown_s = values.get("cooldown_s", camera.trigger.cooldown_s)
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
        self._ticks = 0
        self.worker = Worker(self._step, self._failed, name="perception").start()
        self.rate_timer = self.create_timer(1.0 / self.get_parameter("max_rate_hz").value,
                                            self._on_tick)
        self.frame_type, suffix = ((CompressedImage, "image_raw/compressed")
                                   if self.values["input_transport"] == "compressed"
                                   else (Image, "image_raw"))
        self.inputs = [self.worker, self.rate_timer, self.create_subscription(
            Explanation, "explanation/detail", self._on_explanation, QoSProfile(depth=10))]
        for camera in self.cameras:
            name = topic(camera.name, suffix)
            # Serialised bytes: only the frame a round takes is turned into a message, not the
            # five in six a 60 Hz camera sends between two rounds at 10 Hz.
            self.inputs.append(self.create_subscription(
                self.frame_type, name, self._receiver(camera), qos_profile_sensor_data,
                qos_overriding_options=QoSOverridingOptions.with_default_policies(),
                event_callbacks=_incompatible_qos_warning(self, name), raw=True))
            self.health.watch(camera.received)
        return super().on_activate(state)

    def _receiver(self, camera: Camera):
        def receive(msg) -> None:
            camera.frames.put(msg)
            self.health.tick(camera.received)
        return receive

    def release(self) -> None:
        self.estimator = self.scorer = None

    # -- work -------------------------------------------------------------------------------
    def _on_explanation(self, msg: Explanation) -> None:
        grid = int(msg.region_grid)
        heat_map = (np.asarray(msg.region_map, np.float32).reshape(grid, grid)
                    if grid and len(msg.region_map) == grid * grid else None)
        self.explanations[msg.header.frame_id] = (msg.text, heat_map)

    def _warn_rate_limited(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last_warning > 5.0:
            self._last_warning = now
            self.get_logger().warning(text)

    def _failed(self, error: Exception) -> None:
        self.errors += 1
        self.health.fault("errors")
        self._warn_rate_limited(f"scoring failed: {error!r} ({self.errors} so far)")

    def _on_tick(self) -> None:
        with self._tick_lock:
            self._ticks = min(self._ticks + 1, MAX_PENDING_TICKS)
        self.worker.notify()

    def _step(self) -> bool:
        """One scoring round per timer tick. A round that ran long (a busy host) leaves a tick
        pending, and the next round follows at once, so the rate holds on average; at most
        MAX_PENDING_TICKS wait, so a stall is not made up in a burst."""
        with self._tick_lock:
            if not self._ticks:
                return False
            self._ticks -= 1
        self._process()
        with self._tick_lock:
            return self._ticks > 0

    def _process(self) -> bool:
        """One round: score the newest frame of every camera as one batch. False when no camera
        had a new frame."""
        if self.scorer is None:
            return False
        started = time.perf_counter()
        decoded = []
        for camera in self.cameras:
            msg = camera.frames.take()
            if msg is None:
                continue
            try:
                if isinstance(msg, bytes):
                    msg = _deserialize(msg, self.frame_type)
                decoded.append((camera, msg, to_rgb(msg)))
            except ImageDecodeError as error:
                self.health.fault(camera.bad)
                where = f" of camera {camera.name}" if camera.name else ""
                self._warn_rate_limited(f"skipping a frame{where}: {error}")
        if not decoded:
            return False
        device = self.values["device"]
        with torch.no_grad():
            result = self.scorer.evaluate(torch.cat(
                [rgb_to_tensor(rgb, self.size, device) for _, _, rgb in decoded]))
        self.latency_ms = (time.perf_counter() - started) * 1000.0
        self.processed += len(decoded)
        self.health.tick("scored", len(decoded))
        for row, (camera, msg, rgb) in enumerate(decoded):
            self._publish(camera, msg, rgb, result, row)
        return True

    def _publish(self, camera: Camera, msg, rgb, result, row: int) -> None:
        competency = float(result.competency[row])
        prediction = int(result.prediction[row])
        label = (self.class_names[prediction] if prediction < len(self.class_names)
                 else str(prediction))
        p_max, p_id = float(result.p_max[row]), float(result.p_in_distribution[row])
        camera.last = {"class": label, "competency": f"{competency:.4f}",
                       "p_max": f"{p_max:.4f}", "p_id": f"{p_id:.4f}"}
        camera.competency_pub.publish(Competency(
            header=msg.header, competency=competency, p_max=p_max, p_in_distribution=p_id,
            class_id=prediction, class_name=label, threshold=float(self.threshold),
            low=competency < self.threshold, estimator=self.estimator.name,
            model_hash=self.model_hash))
        frame = to_rgb8(rgb)
        if camera.trigger.update(competency, stamp_seconds(msg.header)):
            # The original frame and header; a compressed frame goes out decoded, as rgb8.
            self.trigger_pub.publish(encode(frame, "rgb8", msg.header) if is_compressed(msg)
                                     else msg)
            self.get_logger().info(f"low competency {competency:.3f} ({label}"
                                   f"{', ' + camera.name if camera.name else ''}): triggered")
        if self.get_parameter("publish_debug_image").value:
            text, heat_map = self.explanations.get(msg.header.frame_id, ("", None))
            # The map belongs to the trigger's view: shown while competency stays low
            image = debug_overlay(frame, competency, self.threshold, label, text,
                                  self.get_parameter("debug_image_max_width").value,
                                  heat_map if competency < self.threshold else None)
            camera.debug_pub.publish(encode(image, "rgb8", msg.header))

    def diagnostic_values(self) -> dict[str, str]:
        values = {"latency_ms": f"{self.latency_ms:.2f}",
                  "device": self.values["device"] if self.estimator else "",
                  "backend": getattr(self.scorer, "provider", "torch"),
                  "estimator": getattr(self.estimator, "name", ""),
                  "model_sha256": getattr(self, "model_hash", "")}
        for camera in self.cameras:
            prefix = f"{camera.name}." if camera.name else ""
            values[f"{prefix}dropped_frames"] = str(camera.frames.dropped)
            values[f"{prefix}triggers"] = str(camera.trigger.fired)
            values.update({prefix + key: value for key, value in camera.last.items()})
        return values


def _deserialize(data: bytes, kind):
    from rclpy.serialization import deserialize_message

    try:
        return deserialize_message(data, kind)
    except Exception as error:  # rclpy raises plain exceptions for malformed CDR
        raise ImageDecodeError(f"malformed {kind.__name__} message: {error}") from error


def _incompatible_qos_warning(node, name: str):
    try:
        from rclpy.event_handler import SubscriptionEventCallbacks
    except ImportError:  # Humble
        from rclpy.qos_event import SubscriptionEventCallbacks

    def warn(event):
        node.get_logger().warning(
            f"a publisher on {name} has incompatible QoS (policy {event.last_policy_kind}); set "
            "qos_overrides for the subscription")

    return SubscriptionEventCallbacks(incompatible_qos=warn)
