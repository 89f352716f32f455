"""counterfactual_node: a competent look-alike of each low-competency frame.

On a trigger, the fast path (LNN and Reco: whichever reaches the threshold, else the more
competent) is published at once with the trigger frame's header; then LGD refines within
`lgd_budget_ms` unless a newer trigger is waiting, and publishes again. One job in flight, on the
node's worker thread; a newer trigger replaces an older waiting one and the drop is counted.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import torch
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image
from std_msgs.msg import String

from competency_cf.ros.image_codec import ImageDecodeError, tensor_to_msg, to_tensor
from competency_cf.ros.latest import LatestSlot
from competency_cf.ros.managed_node import ManagedNode
from competency_cf.ros.parameters import COMMON, Param, declare, read
from competency_cf.ros.perception_node import load_models
from competency_cf.ros.worker import Worker

PARAMS = COMMON + (
    Param("trigger_topic", "/perception_node/low_competency/image",
          "low-competency frames from the perception node", read_only=True),
    Param("refine", True, "refine the fast counterfactual with LGD"),
    Param("lgd_budget_ms", 300.0, "time LGD may take per trigger (ms)", 1.0, 60000.0),
)


class CounterfactualNode(ManagedNode):
    def __init__(self, name: str = "counterfactual_node", **kwargs):
        super().__init__(name, **kwargs)
        declare(self, PARAMS)
        self.jobs = LatestSlot()
        self.methods = {}
        self.completed = self.errors = 0

    def on_configure(self, state) -> TransitionCallbackReturn:
        from competency_cf.counterfactual.methods import (LNN_BANK_FILE, LatentNearestNeighbor,
                                                          build_method)

        try:
            self.values = read(self, PARAMS)
            self.models, self.estimator = load_models(self, self.values)
            device = self.values["device"]
            self.methods = {
                "LNN": LatentNearestNeighbor(self.estimator, device=device).load_bank(
                    self.models / LNN_BANK_FILE),
                "Reco": build_method("Reco", self.estimator, device=device),
                "LGD": build_method("LGD", self.estimator, device=device),
            }
        except (FileNotFoundError, ValueError, RuntimeError) as error:
            self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        self.size = int(self.estimator.autoencoder.config["image_size"])
        self._warm_up()
        self.image_pub = self.lifecycle_publisher(Image, "~/counterfactual/image",
                                                  QoSProfile(depth=10))
        self.detail_pub = self.lifecycle_publisher(String, "~/counterfactual/detail",
                                                   QoSProfile(depth=10))
        return TransitionCallbackReturn.SUCCESS

    def _warm_up(self) -> None:
        """Run every method once on a noise frame: first calls allocate and build autograd
        state (about a second for LGD), a cost that belongs here, not to the first trigger."""
        image = torch.rand((1, 3, self.size, self.size), generator=torch.Generator()
                           .manual_seed(0)).to(self.values["device"])
        lgd = self.methods["LGD"]
        budget = lgd.config
        lgd.config = replace(budget, max_iterations=2, time_budget_s=None)
        for method in self.methods.values():
            method.generate(image)
        lgd.config = budget

    def on_activate(self, state) -> TransitionCallbackReturn:
        self.worker = Worker(self._work, self._failed, name="counterfactual").start()
        self.inputs = [self.worker, self.create_subscription(
            Image, self.values["trigger_topic"], self._on_trigger, QoSProfile(depth=10))]
        return super().on_activate(state)

    def _on_trigger(self, msg: Image) -> None:
        self.jobs.put(msg)
        self.worker.notify()

    def release(self) -> None:
        self.methods = {}

    def _publish(self, header, method: str, image: torch.Tensor, competency: float,
                 before: float, seconds: float) -> None:
        self.image_pub.publish(tensor_to_msg(image, header))
        self.detail_pub.publish(String(data=json.dumps({
            "stamp": {"sec": header.stamp.sec, "nanosec": header.stamp.nanosec},
            "method": method, "competency_before": round(before, 4),
            "competency_after": round(competency, 4),
            "valid": competency >= self.estimator.threshold, "seconds": round(seconds, 4)})))

    def _work(self) -> bool:
        msg = self.jobs.take()
        if msg is None or not self.methods:
            return False
        self._answer(msg)
        return True

    def _failed(self, error: Exception) -> None:
        """One failed trigger must not take the node down: log it, count it, go on."""
        self.errors += 1
        self.get_logger().error(f"counterfactual failed: {error!r} ({self.errors} so far)")

    def _answer(self, msg) -> None:
        try:
            image = to_tensor(msg, self.size, self.values["device"])
        except ImageDecodeError as error:
            self.get_logger().warning(f"skipping a trigger frame: {error}")
            return
        started = time.perf_counter()
        with torch.no_grad():
            before = float(self.estimator.evaluate(image).competency[0])
        fast = [self.methods[name].generate(image) for name in ("LNN", "Reco")]
        best = max(fast, key=lambda r: (bool(r.success[0]), float(r.competency[0])))
        self._publish(msg.header, best.method, best.images[0], float(best.competency[0]),
                      before, time.perf_counter() - started)
        self.completed += 1  # answered; refinement is a bonus
        if self.get_parameter("refine").value and not self.jobs.waiting():
            lgd = self.methods["LGD"]
            # The budget is a runtime parameter: read it per trigger.
            lgd.config = replace(lgd.config, time_budget_s=self.get_parameter(
                "lgd_budget_ms").value / 1000.0)
            refined = lgd.generate(image)
            self._publish(msg.header, refined.method, refined.images[0],
                          float(refined.competency[0]), before, time.perf_counter() - started)
