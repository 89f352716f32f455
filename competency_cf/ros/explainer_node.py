"""explainer_node: one sentence on why a frame had low competency.

Topics (relative: push a namespace or remap them):
  in   low_competency/image    trigger frames of every camera (told apart by frame_id)
  in   counterfactual/detail (competency_cf_msgs/Counterfactual)    image and method
  out  explanation    the sentence, for people (std_msgs/String)
  out  explanation/detail (competency_cf_msgs/Explanation)    cause, direction, confidence, ...

Trigger frames are cached by (frame_id, stamp) (bounded, at the network's input size); each
counterfactual that arrives is paired with its trigger frame (one that arrives before its trigger
frame, as two topics may deliver in either order, waits for it), queued one entry per trigger (a
refined counterfactual replaces the waiting fast one), cameras served in turn, and explained on
the node's worker thread, woken by each new pair. An explanation is final when its counterfactual
was. The backend is the descriptor explainer by default, or the LLM explainer with a model
directory (loaded in `on_configure`; the descriptor explainer stands in when the LLM cannot run).
The backend runs in its own thread: an explanation slower than `timeout_s` is abandoned and
counted, a failing one is logged and counted (both in /diagnostics), and neither stops the node.
"""

from __future__ import annotations

from collections import OrderedDict
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import torch
from competency_cf_msgs.msg import Counterfactual, Explanation
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image
from std_msgs.msg import String

from competency_cf.ros.fair_queue import FairQueue
from competency_cf.ros.image_codec import ImageDecodeError, to_tensor
from competency_cf.ros.managed_node import ManagedNode
from competency_cf.ros.parameters import COMMON, Param, declare, read
from competency_cf.ros.perception_node import load_models
from competency_cf.ros.stamps import frame_key
from competency_cf.ros.worker import Worker

PARAMS = COMMON + (
    Param("backend", "descriptor", "explainer backend", choices=("descriptor", "llm"),
          read_only=True),
    Param("llm_model", "", "local Mllama model directory for the llm backend", read_only=True),
    Param("llm_adapter", "", "LoRA adapter directory for the llm backend", read_only=True),
    Param("max_new_tokens", 100, "longest LLM reply (tokens)", 1, 1000, read_only=True),
    Param("cache_size", 32, "trigger frames kept for pairing, and pairs waiting to be "
          "explained per camera", 1, 1000, read_only=True),
    Param("timeout_s", 30.0, "longest an explanation may take; a slower one is abandoned and "
          "counted", 0.1, 3600.0),
)


def _in_daemon_thread(function, *args) -> Future:
    """Run `function` in a daemon thread: a hung backend can be abandoned and never blocks the
    process from exiting (a thread pool's workers would be joined at exit)."""
    future: Future = Future()

    def run():
        try:
            future.set_result(function(*args))
        except BaseException as error:  # handed to the waiting callback
            future.set_exception(error)

    threading.Thread(target=run, name="explainer-backend", daemon=True).start()
    return future


class ExplainerNode(ManagedNode):
    def __init__(self, name: str = "explainer_node", **kwargs):
        super().__init__(name, **kwargs)
        declare(self, PARAMS)
        self.frames: OrderedDict = OrderedDict()
        self.early: OrderedDict = OrderedDict()  # counterfactuals waiting for their trigger frame
        self.pairs = FairQueue()
        self.explainer = None
        self.explained = self.unpaired = self.errors = self.timeouts = 0
        self._running: Future | None = None

    def on_configure(self, state) -> TransitionCallbackReturn:
        from competency_cf.explain.factory import build_explainer

        try:
            self.values = read(self, PARAMS)
            self.pairs = FairQueue(self.values["cache_size"])
            self.models, self.estimator = load_models(self, self.values)
            self.explainer = build_explainer(
                self.values["backend"], self.values["domain"], self.models,
                llm_model=self.values["llm_model"] or None,
                adapter=self.values["llm_adapter"] or None, device=self.values["device"],
                max_new_tokens=self.values["max_new_tokens"])
        except (FileNotFoundError, ValueError, RuntimeError) as error:
            return self.configure_failed(error)
        self.size = int(self.estimator.autoencoder.config["image_size"])
        if self.explainer.backend == "descriptor":
            # First calls allocate; pay that here rather than on the first trigger. (An LLM
            # warm-up would be a whole generation, so that backend starts cold.)
            image = torch.rand((1, 3, self.size, self.size),
                               generator=torch.Generator().manual_seed(0))
            self.explainer.explain(image, image.flip(-1), "warm-up")
        self.text_pub = self.lifecycle_publisher(String, "explanation", QoSProfile(depth=10))
        self.detail_pub = self.lifecycle_publisher(Explanation, "explanation/detail",
                                                   QoSProfile(depth=10))
        self.get_logger().info(f"configured: {self.explainer.backend} explainer")
        return super().on_configure(state)

    def on_activate(self, state) -> TransitionCallbackReturn:
        qos = QoSProfile(depth=10)
        self.worker = Worker(self._work, self._failed, name="explainer").start()
        self.inputs = [
            self.worker,
            self.create_subscription(Image, "low_competency/image", self._on_trigger, qos),
            self.create_subscription(Counterfactual, "counterfactual/detail",
                                     self._on_counterfactual, qos),
        ]
        return super().on_activate(state)

    def release(self) -> None:
        self.explainer = None  # the LLM's memory goes with it

    def _remember(self, cache: OrderedDict, key, value) -> list:
        """Keep `value` under `key`; the oldest entries beyond `cache_size` go, and are
        returned."""
        cache[key] = value
        evicted = []
        while len(cache) > self.values["cache_size"]:
            evicted.append(cache.popitem(last=False))
        return evicted

    def _on_trigger(self, msg: Image) -> None:
        # Kept as the network-sized tensor, not the camera frame: the cache then holds a few
        # hundred kilobytes whatever the camera's resolution.
        try:
            image = to_tensor(msg, self.size)
        except ImageDecodeError as error:
            self.health.fault("bad_frames")
            self.get_logger().warning(f"skipping a trigger frame: {error}")
            return
        key = frame_key(msg.header)
        self._remember(self.frames, key, (msg.header, image))
        early = self.early.pop(key, None)
        if early is not None:
            self._pair(key, early)

    def _on_counterfactual(self, msg: Counterfactual) -> None:
        # The node's callbacks share one mutually exclusive group, so the caches need no lock.
        key = frame_key(msg.header)
        if key in self.frames:
            self._pair(key, msg)
            return
        for (frame_id, sec, nanosec), _ in self._remember(self.early, key, msg):
            self.unpaired += 1
            self.health.fault("unpaired")
            self.get_logger().warning(f"no trigger frame {frame_id!r} with stamp "
                                      f"{sec}.{nanosec:09d} came for a counterfactual; skipped")

    def _pair(self, key, counterfactual: Counterfactual) -> None:
        self.pairs.put(key[0], key, (self.frames[key], counterfactual))
        self.worker.notify()

    def _work(self) -> bool:
        """Explain the oldest waiting pair; False when there is none or the backend is busy."""
        if self._running is not None and not self._running.done():
            return False  # an abandoned explanation still occupies the backend; pairs wait
        waiting = self.pairs.take()
        if waiting is None or self.explainer is None:
            return False
        (header, original), counterfactual = waiting[2]
        try:
            paired = to_tensor(counterfactual.image, self.size)
        except ImageDecodeError as error:
            self.health.fault("bad_frames")
            self.get_logger().warning(f"skipping a pair: {error}")
            return True
        method = counterfactual.method or "counterfactual"
        self._running = _in_daemon_thread(self.explainer.explain, original, paired, method)
        try:
            explanation = self._running.result(timeout=self.get_parameter("timeout_s").value)[0]
        except FutureTimeout:
            self.timeouts += 1
            self.health.fault("timeouts")
            self.get_logger().error(f"the {self.explainer.backend} explainer took longer than "
                                    f"timeout_s; frame skipped ({self.timeouts} so far)")
            return True
        except Exception as error:  # a backend failure must not take the node down
            self.errors += 1
            self.health.fault("errors")
            self.get_logger().error(f"the {self.explainer.backend} explainer failed: {error!r} "
                                    f"({self.errors} so far)")
            return True
        self.explained += 1
        self.health.tick("explained")
        self.text_pub.publish(String(data=explanation.text))
        self.detail_pub.publish(Explanation(
            header=header, cause=explanation.cause, direction=explanation.direction,
            confidence=float(explanation.confidence), region=explanation.region,
            region_grid=len(explanation.region_map),
            region_map=[float(v) for cells in explanation.region_map for v in cells],
            text=explanation.text, unsure=explanation.unsure,
            candidates=[cause for cause, _ in explanation.candidates],
            candidate_confidences=[float(p) for _, p in explanation.candidates],
            method=method, backend=explanation.backend,
            competency_before=counterfactual.competency_before,
            competency_after=counterfactual.competency_after, final=counterfactual.final,
            milliseconds=explanation.seconds * 1000.0))
        return True

    def _failed(self, error: Exception) -> None:
        self.errors += 1
        self.health.fault("errors")
        self.get_logger().error(f"explaining a pair failed: {error!r} ({self.errors} so far)")

    def diagnostic_values(self) -> dict[str, str]:
        values = {"backend": self.explainer.backend if self.explainer else "none",
                  "waiting": len(self.pairs), "replaced_pairs": self.pairs.replaced}
        values.update({f"dropped_pairs.{camera or 'camera'}": count
                       for camera, count in self.pairs.dropped.items()})
        return values
