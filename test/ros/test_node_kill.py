"""Killing a node process mid-run: the other processes keep working and the recording stays
readable."""

import signal

import numpy as np
import pytest
from competency_cf_msgs.msg import Explanation
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image

from competency_cf.ros.image_codec import encode
from competency_cf.ros.recorder import EXPLANATION_DETAIL, read_bag

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_killing_perception_leaves_recorder_and_camera_working(tmp_path, processes, graph):
    out = tmp_path / "recording"
    recorder = processes.python("-m", "competency_cf", "record", "--out", str(out))
    perception = processes.perception(remap=("image_raw:=/kill_test/image",))
    try:
        assert "recording" in recorder.stdout.readline()
        node = graph.plain("camera")
        camera = node.create_publisher(Image, "/kill_test/image", 10)
        marker = node.create_publisher(Explanation, EXPLANATION_DETAIL, 10)
        frame = encode(np.full((64, 64, 3), 100, np.uint8), "rgb8")
        # The recorder reports the messages it recorded per topic on /diagnostics.
        counts = {}

        def on_diagnostics(msg):
            for status in msg.status:
                if status.name.endswith("recorder"):
                    counts.update({kv.key: int(kv.value) for kv in status.values})

        node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
        # Perception is up and its scores are being recorded.
        assert graph.spin_until(lambda: counts.get("/competency", 0) >= 3,
                                each=lambda: camera.publish(frame), period=0.1)
        perception.send_signal(signal.SIGKILL)
        perception.wait(timeout=60)
        # The camera process and the recorder go on: markers sent after the kill are recorded.
        assert graph.spin_until(lambda: counts.get(EXPLANATION_DETAIL, 0) >= 3,
                                each=lambda: (camera.publish(frame), marker.publish(
                                    Explanation(cause="marker"))), period=0.1)
        assert recorder.poll() is None
    finally:
        output = processes.interrupt(recorder)
    assert recorder.returncode == 0, output
    messages = read_bag(out / "bag")
    scored = [m.competency for topic, _, m in messages if topic == "/competency"]
    markers = [m.cause for topic, _, m in messages if topic == EXPLANATION_DETAIL]
    assert len(scored) >= 3 and all(0.0 <= value <= 1.0 for value in scored)  # before the kill
    assert len(markers) >= 3                                                  # and after it
