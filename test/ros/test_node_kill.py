"""Killing a node process mid-run: the other processes keep working and the recording stays
readable."""

import json
import signal

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image
from std_msgs.msg import Float32, String

from competency_cf.ros.image_codec import encode
from competency_cf.ros.recorder import EXPLANATION_DETAIL, read_bag
from waiting import spin_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def _lines(path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


def test_killing_perception_leaves_recorder_and_camera_working(tmp_path, processes):
    out = tmp_path / "recording"
    recorder = processes.python("-m", "competency_cf", "record", "--out", str(out))
    perception = processes.perception("image_topic:=/kill_test/image")
    context = rclpy.Context()
    rclpy.init(context=context)
    scores = []
    try:
        assert "recording" in recorder.stdout.readline()
        node = rclpy.create_node("camera", context=context)
        camera = node.create_publisher(Image, "/kill_test/image", 10)
        competency = node.create_publisher(Float32, "/perception_node/competency", 10)
        # The recorder appends each explanation detail to explanations.jsonl, flushed per line:
        # lines growing there show from outside that it is still recording.
        marker = node.create_publisher(String, EXPLANATION_DETAIL, 10)
        node.create_subscription(Float32, "/perception_node/competency",
                                 lambda m: scores.append(m.data), 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        frame = encode(np.full((64, 64, 3), 100, np.uint8), "rgb8")

        def publish_markers():
            competency.publish(Float32(data=-1.0))  # a value only this process sends
            marker.publish(String(data=json.dumps({"cause": "marker"})))

        # Perception is up, and the recorder hears the competency topic (this node's
        # subscription and the recorder's); then ten more scores for the recording.
        assert spin_until(executor, lambda: len(scores) >= 3 and
                          competency.get_subscription_count() >= 2,
                          each=lambda: camera.publish(frame), period=0.1)
        first = len(scores)
        assert spin_until(executor, lambda: len(scores) >= first + 10,
                          each=lambda: camera.publish(frame), period=0.1)
        perception.send_signal(signal.SIGKILL)
        perception.wait(timeout=60)
        # The camera process and the recorder go on: markers are recorded after the kill.
        assert spin_until(executor, lambda: _lines(out / "explanations.jsonl") >= 3,
                          each=publish_markers, period=0.1)
        assert recorder.poll() is None
        executor.shutdown()
        node.destroy_node()
    finally:
        context.try_shutdown()
        output = processes.interrupt(recorder)
    assert recorder.returncode == 0, output
    recorded = [m.data for topic, _, m in read_bag(out / "bag")
                if topic == "/perception_node/competency"]
    scored = [value for value in recorded if value != -1.0]
    assert scored and all(0.0 <= value <= 1.0 for value in scored)  # before the kill
    assert recorded.count(-1.0) >= 1                                  # and after it
