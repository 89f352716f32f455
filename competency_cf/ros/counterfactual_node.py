"""counterfactual_node: a competent look-alike of each low-competency frame.

Topics (relative: push a namespace or remap them):
  in   low_competency/image    trigger frames of every camera (told apart by frame_id)
  out  counterfactual/detail (competency_cf_msgs/Counterfactual)    image, method, competency
  out  counterfactual/image    the same image alone, for RViz

On a trigger, the fast path (LNN and Reco: whichever reaches the threshold, else the more
competent) is published at once with the trigger frame's header; then, unless another trigger is
waiting, LGD refines within `lgd_budget_ms` and publishes again with `final` set (the fast one
says whether a refinement follows). One job in flight, on the node's worker thread. Triggers wait
one per camera: a newer trigger of the same camera replaces its waiting one (the drop is counted
for that camera) and cameras are served in turn, so none starves another.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch
from rclpy.lifecycle import TransitionCallbackReturn
from competency_cf_msgs.msg import Counterfactual
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image

from competency_cf.ros.fair_queue import FairQueue
from competency_cf.ros.image_codec import ImageDecodeError, tensor_to_msg, to_tensor
from competency_cf.ros.managed_node import ManagedNode
from competency_cf.ros.parameters import COMMON, Param, declare, read
from competency_cf.ros.perception_node import load_models
from competency_cf.ros.stamps import stamp_key
from competency_cf.ros.worker import Worker

PARAMS = COMMON + (
    Param("refine", True, "refine the fast counterfactual with LGD"),
    Param("lgd_budget_ms", 300.0, "time LGD may take per trigger (ms)", 1.0, 60000.0),
)


class CounterfactualNode(ManagedNode):
    def __init__(self, name: str = "counterfactual_node", **kwargs):
        super().__init__(name, **kwargs)
        declare(self, PARAMS)
        self.jobs = FairQueue(capacity=1)  # the newest trigger of each camera
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
            return self.configure_failed(error)
        self.size = int(self.estimator.autoencoder.config["image_size"])
        self._warm_up()
        self.image_pub = self.lifecycle_publisher(Image, "counterfactual/image",
                                                  QoSProfile(depth=10))
        self.detail_pub = self.lifecycle_publisher(Counterfactual, "counterfactual/detail",
                                                   QoSProfile(depth=10))
        return super().on_configure(state)

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
            Image, "low_competency/image", self._on_trigger, QoSProfile(depth=10))]
        return super().on_activate(state)

    def _on_trigger(self, msg: Image) -> None:
        self.jobs.put(msg.header.frame_id, stamp_key(msg.header), msg)
        self.health.tick("triggers")
        self.worker.notify()

    def release(self) -> None:
        self.methods = {}

    def _publish(self, header, result, before: float, started: float, final: bool) -> None:
        image = tensor_to_msg(result.images[0], header)
        competency = float(result.competency[0])
        self.image_pub.publish(image)
        self.detail_pub.publish(Counterfactual(
            header=header, method=result.method, image=image, competency_before=before,
            competency_after=competency, success=bool(result.success[0]),
            iterations=int(result.iterations[0]),
            milliseconds=(time.perf_counter() - started) * 1000.0, final=final))

    def _work(self) -> bool:
        job = self.jobs.take()
        if job is None or not self.methods:
            return False
        self._answer(job[2])
        return True

    def _failed(self, error: Exception) -> None:
        """One failed trigger must not take the node down: log it, count it, go on."""
        self.errors += 1
        self.health.fault("errors")
        self.get_logger().error(f"counterfactual failed: {error!r} ({self.errors} so far)")

    def _answer(self, msg) -> None:
        started = time.perf_counter()
        try:
            image = to_tensor(msg, self.size, self.values["device"])
        except ImageDecodeError as error:
            self.health.fault("bad_frames")
            self.get_logger().warning(f"skipping a trigger frame: {error}")
            return
        with torch.no_grad():
            before = float(self.estimator.evaluate(image).competency[0])
        fast = [self.methods[name].generate(image) for name in ("LNN", "Reco")]
        best = max(fast, key=lambda r: (bool(r.success[0]), float(r.competency[0])))
        # Decided before publishing, so the fast image can say whether it is final.
        refine = self.get_parameter("refine").value and not len(self.jobs)
        self._publish(msg.header, best, before, started, final=not refine)
        self.completed += 1  # answered; refinement is a bonus
        self.health.tick("answered")
        if refine:
            lgd = self.methods["LGD"]
            # The budget is a runtime parameter: read it per trigger.
            lgd.config = replace(lgd.config, time_budget_s=self.get_parameter(
                "lgd_budget_ms").value / 1000.0)
            self._publish(msg.header, lgd.generate(image), before, started, final=True)

    def diagnostic_values(self) -> dict[str, str]:
        values = {"waiting": str(len(self.jobs))}
        values.update({f"dropped_triggers.{camera or 'camera'}": str(count)
                       for camera, count in self.jobs.dropped.items()})
        return values
