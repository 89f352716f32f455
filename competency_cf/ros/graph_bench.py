"""End-to-end latency in the ROS graph: from a trigger frame's stamp to its first counterfactual
and to its first explanation, with the descriptor explainer, and the process's peak memory.

A camera node alternates competent and degraded (noise) frames of the domain so every degraded
frame can trigger (cooldown 0); perception, counterfactual and explainer nodes run in one process
on one MultiThreadedExecutor, as `competency-cf pipeline` runs them.
"""

from __future__ import annotations

import resource
import time

import numpy as np

from competency_cf.evaluation.bench_report import GraphBench


IDLE_SECONDS = 3.0
DISCOVERY_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 120.0  # beyond the camera's own time; only a broken graph needs it


def _spin_while(executor, condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while condition() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.1)


def _cpu_while(spin, seconds: float) -> float:
    """This process's CPU time over wall time while calling `spin` for `seconds`."""
    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    started, cpu_started = time.monotonic(), cpu()
    while time.monotonic() - started < seconds:
        spin()
    return (cpu() - cpu_started) / (time.monotonic() - started)


def competent_and_low_frames(domain_name: str, count: int):
    """(clean, noisy) 64 px images of the domain: clean ones at least 0.05 above the competency
    threshold of the domain's default estimator, noisy ones (noise 80) at least 0.05 below it, so
    each reliably sets the trigger's state whichever of them perception samples."""
    import torch

    from competency_cf.competency.parce import load_estimator
    from competency_cf.data.causes import degrade
    from competency_cf.data.domains import get_domain
    from competency_cf.data.synthesize import render_sample
    from competency_cf.resources import models_dir

    domain = get_domain(domain_name)
    estimator = load_estimator(models_dir(domain_name), "cpu", kind="auto")  # as the node
    clean = render_sample(domain, per_class=max(1, count // domain.num_classes + 1),
                          offset=500_000).images
    competency = estimator.evaluate(clean).competency
    clean = clean[competency >= estimator.threshold + 0.05]
    noisy = degrade(clean, "noise", 80.0, generator=torch.Generator().manual_seed(0))
    noisy = noisy[estimator.evaluate(noisy).competency < estimator.threshold - 0.05]
    if not len(clean) or not len(noisy):
        raise RuntimeError("could not find competent and low-competency frames for the bench")
    return clean, noisy


def start_graph(context, domain: str, perception_parameters=()) -> list:
    """Perception, counterfactual and explainer nodes of `domain` in `context`, configured and
    active, as `competency-cf pipeline` runs them; `perception_parameters` override the
    perception node's defaults."""
    from rclpy.parameter import Parameter

    from competency_cf.ros.pipeline import create_node, start

    nodes = [create_node(name, context=context, parameter_overrides=[
                 Parameter("domain", value=domain),
                 *(perception_parameters if name == "perception_node" else ())])
             for name in ("perception_node", "counterfactual_node", "explainer_node")]
    if not all(start(node) for node in nodes):
        raise RuntimeError("a node failed to configure; see the log above")
    return nodes


def bench_graph(domain: str = "lunar", triggers: int = 60, pair_hz: float = 1.0,
                idle_s: float = IDLE_SECONDS) -> GraphBench:
    """`pair_hz` competent/degraded frame pairs per second: slow enough that each trigger is
    served before the next (a newer trigger replaces a waiting one by design). The nodes' idle
    CPU use is measured over `idle_s` before the first frame (0: not measured, NaN)."""
    import rclpy
    from competency_cf_msgs.msg import Counterfactual, Explanation
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from competency_cf.ros.executor import make_executor, teardown
    from competency_cf.ros.image_codec import tensor_to_msg
    from competency_cf.ros.paced_camera import PacedCamera
    from competency_cf.ros.stamps import stamp_key

    clean, noisy = competent_and_low_frames(domain, triggers)
    context = rclpy.Context()
    rclpy.init(context=context)
    sent, first_counterfactual, first_explanation = {}, {}, {}
    try:
        nodes = start_graph(context, domain, [Parameter("cooldown_s", value=0.0),
                                              Parameter("max_rate_hz", value=50.0)])
        camera = rclpy.create_node("bench_camera", context=context)
        publisher = camera.create_publisher(Image, "image_raw", 10)

        def now_ns():
            return camera.get_clock().now().nanoseconds

        def on_counterfactual(msg):
            first_counterfactual.setdefault(stamp_key(msg.header), now_ns())

        def on_explanation(msg):
            first_explanation.setdefault(stamp_key(msg.header), now_ns())

        outputs = [camera.create_subscription(Counterfactual, "counterfactual/detail",
                                              on_counterfactual, 50),
                   camera.create_subscription(Explanation, "explanation/detail",
                                              on_explanation, 50)]
        executor = make_executor(nodes + [camera], context)
        perception, counterfactual = nodes[0], nodes[1]
        trigger = perception.cameras[0].trigger

        def matched() -> bool:
            return publisher.get_subscription_count() >= 1 and all(
                output.get_publisher_count() >= 1 for output in outputs)

        _spin_while(executor, lambda: not matched(), DISCOVERY_TIMEOUT_S)
        if not matched():
            raise RuntimeError(f"the graph's topics did not match in {DISCOVERY_TIMEOUT_S} s")
        idle_cpu = _cpu_while(lambda: executor.spin_once(timeout_sec=0.1), idle_s) \
            if idle_s > 0 else float("nan")

        def frame(index):
            pool = noisy if index % 2 else clean
            return tensor_to_msg(pool[(index // 2) % len(pool)])

        def on_sent(index, msg):
            if index % 2:
                sent[stamp_key(msg.header)] = now_ns()

        # Each frame waits until perception has scored the one before: every degraded frame is
        # scored and fires, however busy the host (only the latencies change).
        paced = PacedCamera(camera, publisher, 2.0 * pair_hz, frame, on_sent,
                            count=2 * triggers,
                            ready=lambda index: perception.processed >= index).start()

        def settled() -> bool:
            """Every frame sent is scored, every trigger fired answered (or replaced) and every
            answer explained. (Perception's inputs stop right after: a frame still on its way
            would be lost.)"""
            resolved = counterfactual.completed + sum(counterfactual.jobs.dropped.values()) + \
                counterfactual.errors
            return paced.finished and perception.processed >= paced.published and \
                resolved >= trigger.fired and len(first_explanation) >= counterfactual.completed

        _spin_while(executor, lambda: not settled(), triggers / pair_hz + SETTLE_TIMEOUT_S)
        paced.stop()
        teardown(nodes + [camera], executor, context)  # see ros/executor.py
        fired, answered, dropped = (trigger.fired, counterfactual.completed,
                                    sum(counterfactual.jobs.dropped.values()))
    finally:
        context.try_shutdown()

    def percentiles(arrivals):
        delays = [(arrivals[k] - sent[k]) / 1e6 for k in arrivals if k in sent]
        return (float(np.percentile(delays, 50)), float(np.percentile(delays, 99))) \
            if delays else (float("nan"), float("nan"))

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
    return GraphBench(domain, len(sent), fired, answered, dropped, len(first_explanation),
                      percentiles(first_counterfactual),
                      percentiles(first_explanation), peak_kb / 1024.0, idle_cpu)


def bench_graph_in_child(domain: str = "lunar", triggers: int = 60,
                         pair_hz: float = 1.0) -> GraphBench:
    """`bench_graph` in a fresh process, so its peak RSS is the pipeline's own and not what the
    calling process allocated before (rendered datasets, other benchmarks)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(bench_graph, domain, triggers, pair_hz).result()
