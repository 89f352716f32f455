"""`make soak`: the graph under a fast, large camera for minutes, with a printed verdict.

A camera publishes `width` x `height` rgb8 frames (domain renders, enlarged) at `rate_hz` into
perception, counterfactual and explainer nodes in one process; for half a second in every
`DEGRADED_EVERY_S` the frames are degraded with noise, so triggers happen at a steady pace (a
pattern by frame index would alias with the perception rate). Every second the perception node's
processed rate, dropped frames and the process's RSS are sampled. Verdict
(`competency_cf.evaluation.soak_verdict`): perception keeps its `max_rate_hz` (within 10 %), stale
frames are dropped and counted rather than queued, and RSS after warm-up grows by at most 5 %.
"""

from __future__ import annotations

import time

import numpy as np

from competency_cf.evaluation.soak_verdict import SoakResult, degraded

WARM_UP_FRACTION = 0.2  # RSS growth is measured from this point of the run


def rss_mb() -> float:
    """Current resident set size of this process (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * 4096 / 1024 ** 2


def _frames(domain_name: str, width: int, height: int) -> tuple[list, list]:
    """Competent and low-competency (H, W, 3) uint8 frames, enlarged from the domain's size."""
    import torch

    from competency_cf.ros.graph_bench import competent_and_low_frames

    def enlarge(images):
        large = torch.nn.functional.interpolate(images, size=(height, width), mode="nearest")
        return [(image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                for image in large]

    return tuple(enlarge(images[:4]) for images in competent_and_low_frames(domain_name, 8))


def soak(domain: str = "lunar", seconds: float = 300.0, rate_hz: float = 60.0,
         width: int = 1280, height: int = 720, show_progress: bool = True) -> SoakResult:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from competency_cf.ros.executor import make_executor, teardown
    from competency_cf.ros.graph_bench import start_graph
    from competency_cf.ros.image_codec import encode
    from competency_cf.ros.paced_camera import PacedCamera

    clean, noisy = ([encode(frame, "rgb8") for frame in frames]
                    for frames in _frames(domain, width, height))
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        nodes = start_graph(context, domain)
        perception, _, explainer = nodes
        slot = perception.cameras[0].frames
        camera = rclpy.create_node("soak_camera", context=context)
        publisher = camera.create_publisher(Image, "image_raw", qos_profile_sensor_data)
        executor = make_executor(nodes + [camera], context)
        started = time.monotonic()
        samples = []

        def frame(index):
            pool = noisy if degraded(index, rate_hz) else clean
            return pool[index % len(pool)]

        paced = PacedCamera(camera, publisher, rate_hz, frame)

        def sample():
            elapsed = time.monotonic() - started
            samples.append({"t": round(elapsed, 1), "published": paced.published,
                            "processed": perception.processed,
                            "dropped": slot.dropped, "rss_mb": round(rss_mb(), 1)})
            if show_progress:
                print(f"[{elapsed:6.1f} s] camera {paced.published / elapsed:5.1f} Hz  "
                      f"perception {perception.processed / elapsed:5.1f} Hz  dropped "
                      f"{slot.dropped}  RSS {samples[-1]['rss_mb']:.0f} MB",
                      flush=True)

        camera.create_timer(1.0, sample)
        paced.start()
        while time.monotonic() - started < seconds:
            executor.spin_once(timeout_sec=0.1)
        paced.stop()
        elapsed = time.monotonic() - started
        warm = next((row for row in samples if row["t"] >= WARM_UP_FRACTION * seconds),
                    {"t": 0.0, "published": 0, "processed": 0, "rss_mb": rss_mb()})
        span = max(1e-6, elapsed - warm["t"])
        rss_end = rss_mb()
        target_hz = float(perception.get_parameter("max_rate_hz").value)
        # Stops perception's worker (its counters are final below); see ros/executor.py.
        teardown(nodes + [camera], executor, context)
        result = SoakResult(
            seconds=elapsed, camera_hz=(paced.published - warm["published"]) / span,
            processed_hz=(perception.processed - warm["processed"]) / span,
            target_hz=target_hz, dropped=slot.dropped,
            triggers=perception.cameras[0].trigger.fired,
            explained=explainer.explained, rss_start_mb=warm["rss_mb"], rss_end_mb=rss_end,
            samples=samples, received=slot.received, scored=perception.processed,
            bad=perception.health.totals["bad_frames"] + perception.errors,
            unread=int(slot.waiting()))
    finally:
        context.try_shutdown()
    return result
