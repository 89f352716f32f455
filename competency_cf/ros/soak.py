"""`make soak`: the graph under a fast, large camera for minutes, with a printed verdict.

A camera publishes `width` x `height` rgb8 frames (domain renders, enlarged) at `rate_hz` into
perception, counterfactual and explainer nodes; for half a second in every `DEGRADED_EVERY_S` the
frames are degraded with noise, so triggers happen at a steady pace (a pattern by frame index
would alias with the perception rate). Two deployments: the camera on a thread of the graph's
process (`camera_process=False`, everything in one interpreter), or in a process of its own
(`competency_cf.ros.camera_process`, as a driver runs on a robot). Every second the perception
node's processed rate, dropped frames and the process's RSS are sampled; CPU time is read per
thread (and for the camera process) after warm-up and at the end. Verdict
(`competency_cf.evaluation.soak_verdict`): perception keeps its `max_rate_hz`, stale frames are
dropped and counted rather than queued, and RSS after warm-up grows by at most 5 %.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np

from competency_cf.evaluation.soak_verdict import SoakResult, degraded

WARM_UP_FRACTION = 0.2  # RSS growth and CPU shares are measured from this point of the run
CAMERA_START_TIMEOUT_S = 300.0  # rendering the frames and discovery, on a busy host


def rss_mb() -> float:
    """Current resident set size of this process (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * 4096 / 1024 ** 2


def soak_frames(domain_name: str, width: int, height: int) -> tuple[list, list]:
    """Competent and low-competency rgb8 Image messages, enlarged from the domain's size."""
    import torch

    from competency_cf.ros.graph_bench import competent_and_low_frames
    from competency_cf.ros.image_codec import encode

    def enlarge(images):
        large = torch.nn.functional.interpolate(images, size=(height, width), mode="nearest")
        return [encode((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), "rgb8")
                for image in large]

    return tuple(enlarge(images[:4]) for images in competent_and_low_frames(domain_name, 8))


def frame_picker(clean: list, noisy: list, rate_hz: float):
    """frame(index): the soak's schedule of competent and degraded frames."""
    def frame(index):
        pool = noisy if degraded(index, rate_hz) else clean
        return pool[index % len(pool)]
    return frame


class _CameraProcess:
    """The soak camera in a child process; `stop()` returns its published count and CPU use."""

    def __init__(self, domain: str, rate_hz: float, width: int, height: int):
        import os
        import subprocess
        import sys

        self.process = subprocess.Popen(
            [sys.executable, "-m", "competency_cf.ros.camera_process", "--domain", domain,
             "--rate", str(rate_hz), "--size", f"{width}x{height}"],
            stdout=subprocess.PIPE, text=True, env=dict(os.environ))

    def wait_ready(self) -> None:
        """Blocks until the child publishes (it waits for a subscriber first)."""
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the camera process did not start: {line!r}")

    def stop(self) -> dict:
        import signal
        import subprocess

        self.process.send_signal(signal.SIGINT)
        try:
            output = self.process.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise RuntimeError("the camera process did not stop on SIGINT") from None
        return json.loads(output.strip().splitlines()[-1])


# OS thread names of this process that are not the package's own.
THREAD_LABELS = {"python": "main and executor threads (rclpy)", "dds.shm": "DDS shared memory",
                 "dds.udp": "DDS UDP"}


def _cpu_shares(before: dict, after: dict, seconds: float) -> dict[str, float]:
    """Cores used per thread group between two `thread_cpu_seconds` readings."""
    return {THREAD_LABELS.get(name, name): round((after[name] - before.get(name, 0.0)) / seconds,
                                                 3)
            for name in sorted(after, key=lambda n: before.get(n, 0.0) - after[n])
            if after[name] - before.get(name, 0.0) > 0.005 * seconds}


def soak(domain: str = "lunar", seconds: float = 300.0, rate_hz: float = 60.0,
         width: int = 1280, height: int = 720, show_progress: bool = True,
         camera_process: bool = False, max_rate_hz: float | None = None,
         executor_kind: str = "events") -> SoakResult:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from competency_cf.ros.dds_profile import use_large_frame_profile
    from competency_cf.ros.executor import make_executor, teardown
    from competency_cf.ros.graph_bench import start_graph
    from competency_cf.ros.paced_camera import PacedCamera
    from competency_cf.ros.thread_cpu import thread_cpu_seconds

    use_large_frame_profile()  # before the context, and inherited by the camera process
    context = rclpy.Context()
    rclpy.init(context=context)
    child = None
    try:
        from rclpy.parameter import Parameter

        nodes = start_graph(context, domain, [] if max_rate_hz is None else
                            [Parameter("max_rate_hz", value=float(max_rate_hz))])
        perception, _, explainer = nodes
        slot = perception.cameras[0].frames
        executor = make_executor(nodes, context, kind=executor_kind)
        if camera_process:
            child = _CameraProcess(domain, rate_hz, width, height)
            # Spin while the child renders and discovers the graph, so discovery completes.
            ready = threading.Thread(target=child.wait_ready, daemon=True)
            ready.start()
            deadline = time.monotonic() + CAMERA_START_TIMEOUT_S
            while ready.is_alive() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
            if ready.is_alive():
                raise RuntimeError("the camera process did not start in time")
            paced = None
        else:
            camera = rclpy.create_node("soak_camera", context=context)
            nodes.append(camera)
            executor.add_node(camera)
            publisher = camera.create_publisher(Image, "image_raw", qos_profile_sensor_data)
            paced = PacedCamera(camera, publisher, rate_hz,
                                frame_picker(*soak_frames(domain, width, height), rate_hz))
        started = time.monotonic()
        samples, cpu_marks = [], {}

        def sample():
            elapsed = time.monotonic() - started
            published = paced.published if paced is not None else None
            samples.append({"t": round(elapsed, 1), "published": published,
                            "received": slot.received, "processed": perception.processed,
                            "dropped": slot.dropped, "rss_mb": round(rss_mb(), 1)})
            if "warm" not in cpu_marks and elapsed >= WARM_UP_FRACTION * seconds:
                cpu_marks["warm"] = (elapsed, thread_cpu_seconds())
            if show_progress:
                print(f"[{elapsed:6.1f} s] camera {slot.received / elapsed:5.1f} Hz received  "
                      f"perception {perception.processed / elapsed:5.1f} Hz  dropped "
                      f"{slot.dropped}  RSS {samples[-1]['rss_mb']:.0f} MB", flush=True)

        ticker = perception.create_timer(1.0, sample)
        if paced is not None:
            paced.start()
        while time.monotonic() - started < seconds:
            executor.spin_once(timeout_sec=0.1)
        # The run's figures, before stopping anything: every thread still runs (an ended one is
        # gone from /proc), and stopping the camera process takes a moment.
        elapsed, cpu_end = time.monotonic() - started, thread_cpu_seconds()
        processed, received = perception.processed, slot.received
        published = paced.published if paced is not None else 0
        perception.destroy_timer(ticker)
        if paced is not None:
            paced.stop()
        camera_report = child.stop() if child is not None else None
        warm = next((row for row in samples if row["t"] >= WARM_UP_FRACTION * seconds),
                    {"t": 0.0, "published": 0, "received": 0, "processed": 0,
                     "rss_mb": rss_mb()})
        warm_t, warm_cpu = cpu_marks.get("warm", (0.0, {}))
        cpu = _cpu_shares(warm_cpu, cpu_end, elapsed - warm_t)
        span = max(1e-6, elapsed - warm["t"])
        rss_end = rss_mb()
        target_hz = float(perception.get_parameter("max_rate_hz").value)
        if camera_report is not None:
            camera_hz = camera_report["published"] / max(1e-6, camera_report["seconds"])
            cpu["camera process"] = round(camera_report["cpu_seconds"]
                                          / max(1e-6, camera_report["seconds"]), 3)
        else:
            camera_hz = (published - warm["published"]) / span
        # Stops perception's worker (its counters are final below); see ros/executor.py.
        teardown(nodes, executor, context)
        result = SoakResult(
            seconds=elapsed, camera_hz=camera_hz,
            processed_hz=(processed - warm["processed"]) / span,
            target_hz=target_hz, dropped=slot.dropped,
            triggers=perception.cameras[0].trigger.fired,
            explained=explainer.explained, rss_start_mb=warm["rss_mb"], rss_end_mb=rss_end,
            samples=samples, received=slot.received, scored=perception.processed,
            bad=perception.health.totals["bad_frames"] + perception.errors,
            unread=int(slot.waiting()),
            deployment="camera in its own process" if camera_process else "one process",
            executor=executor_kind,
            received_hz=(received - warm["received"]) / span, cpu=cpu)
    finally:
        if child is not None and child.process.poll() is None:
            child.process.kill()
        context.try_shutdown()
    return result
