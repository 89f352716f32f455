"""Frames per second of the perception node with one camera and with several.

The node is started as the pipeline starts it, then its timer and subscriptions are released so
that this benchmark drives its scoring rounds back to back: each round puts a fresh 640x480 rgb8
frame in every camera's slot and runs the node's own round (take the newest frames, decode,
resize, score them as one batch, publish the typed outputs and debug images per camera). DDS
delivery of the camera frames is not in the figure; `make soak` measures that.
"""

from __future__ import annotations

import time

import numpy as np

from competency_cf.evaluation.bench import CameraBenchRow

WARM_UP_ROUNDS = 3


def bench_cameras(domain: str, counts=(1, 4), rounds: int = 60, backend: str = "torch",
                  models_dir: str = "", source: tuple[int, int] = (480, 640)
                  ) -> list[CameraBenchRow]:
    import rclpy
    from rclpy.parameter import Parameter

    from competency_cf.ros.executor import teardown
    from competency_cf.ros.image_codec import encode
    from competency_cf.ros.perception_node import PerceptionNode
    from competency_cf.ros.pipeline import start

    rng = np.random.default_rng(0)
    rows = []
    for count in counts:
        context = rclpy.Context()
        rclpy.init(context=context)
        names = [f"camera{index}" for index in range(count)]
        node = PerceptionNode(context=context, parameter_overrides=[
            Parameter("domain", value=domain), Parameter("cameras", value=names),
            Parameter("backend", value=backend), Parameter("models_dir", value=models_dir)])
        try:
            if not start(node):
                raise RuntimeError(f"the perception node failed to start with {count} cameras")
            node.release_inputs()  # the rounds are driven here
            frames = [encode(rng.integers(0, 256, (*source, 3), dtype=np.uint8), "rgb8")
                      for _ in names]
            for frame, name in zip(frames, names):
                frame.header.frame_id = name
            times = []
            for round_index in range(WARM_UP_ROUNDS + rounds):
                for camera, frame in zip(node.cameras, frames):
                    camera.frames.put(frame)
                started = time.perf_counter()
                node._process()
                if round_index >= WARM_UP_ROUNDS:
                    times.append((time.perf_counter() - started) * 1000.0)
            rows.append(CameraBenchRow(count, backend, rounds,
                                       1000.0 * count / float(np.mean(times)),
                                       float(np.percentile(times, 50)),
                                       float(np.percentile(times, 99))))
        finally:
            teardown([node], context=context)
    return rows
