"""The perception node in its own process, fed compressed frames over loopback DDS."""

import numpy as np
import pytest
from competency_cf_msgs.msg import Competency
from sensor_msgs.msg import CompressedImage

from competency_cf.ros.image_codec import encode_compressed

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_perception_node_process_scores_compressed_frames(processes, graph):
    # The camera wired by remapping alone, in a namespace of its own.
    process = processes.perception("input_transport:=compressed",
                                   remap=("__ns:=/two_process",
                                          "image_raw/compressed:=/rig/front/compressed"))
    scores = []
    node = graph.plain("camera")
    publisher = node.create_publisher(CompressedImage, "/rig/front/compressed", 10)
    node.create_subscription(Competency, "/two_process/competency",
                             lambda m: scores.append(m.competency), 10)
    frame = encode_compressed(np.full((64, 64, 3), 110, np.uint8), "jpeg")
    try:
        # Frames go out until three are scored, however long the process takes to start.
        graph.spin_until(lambda: len(scores) >= 3 or process.poll() is not None,
                         each=lambda: publisher.publish(frame), period=0.2)
    finally:
        output = processes.interrupt(process)
    assert len(scores) >= 3, output
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert process.returncode == 0, output  # Ctrl-C ends the node cleanly
