"""Killing a node process mid-run: the other processes keep working and the recording stays
readable."""

import signal

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image
from std_msgs.msg import Float32

from competency_cf.ros.image_codec import encode
from competency_cf.ros.recorder import read_bag
from spin import spin


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
        node.create_subscription(Float32, "/perception_node/competency",
                                 lambda m: scores.append(m.data), 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        frame = encode(np.full((64, 64, 3), 100, np.uint8), "rgb8")
        spin(executor, 40.0, until=lambda: len(scores) >= 3,  # perception is up
             each=lambda: camera.publish(frame), period=0.1)
        assert len(scores) >= 3
        perception.send_signal(signal.SIGKILL)
        perception.wait(timeout=10)
        for _ in range(20):  # the camera process and the recorder go on
            camera.publish(frame)
            competency.publish(Float32(data=-1.0))  # a marker only this process sends
            executor.spin_once(timeout_sec=0.05)
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
