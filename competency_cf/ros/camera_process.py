"""The soak's camera in a process of its own, as a camera driver runs on a robot.

    python -m competency_cf.ros.camera_process --domain lunar --rate 60 --size 1280x720

Publishes the soak's frames on `image_raw` (sensor-data QoS) once a subscriber is there, prints
`ready`, and on SIGINT/SIGTERM prints one JSON line: frames published, seconds, CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import Image

    from competency_cf.ros.dds_profile import use_large_frame_profile
    from competency_cf.ros.paced_camera import PacedCamera
    from competency_cf.ros.soak import frame_picker, soak_frames
    from competency_cf.ros.thread_cpu import process_cpu_seconds

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--domain", default="lunar")
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    frame = frame_picker(*soak_frames(args.domain, width, height), args.rate)
    # Our own handlers stop the camera; rclpy's would shut the context down under it.
    use_large_frame_profile()
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("soak_camera")
    publisher = node.create_publisher(Image, "image_raw", qos_profile_sensor_data)
    try:
        while publisher.get_subscription_count() < 1 and not stop.wait(0.05):
            pass
        print("ready", flush=True)
        started, cpu_started = time.monotonic(), process_cpu_seconds()
        paced = PacedCamera(node, publisher, args.rate, frame).start()
        stop.wait()
        paced.stop()
        print(json.dumps({"published": paced.published,
                          "seconds": time.monotonic() - started,
                          "cpu_seconds": process_cpu_seconds() - cpu_started}), flush=True)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
