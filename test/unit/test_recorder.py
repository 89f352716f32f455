"""The recorder writes a readable rosbag2 (MCAP) + JSONL."""

import json

from std_msgs.msg import Float32, String

from competency_cf.ros.recorder import EXPLANATION_DETAIL, Recorder, read_bag


def test_in_process_recording_reads_back(tmp_path):
    from rclpy.serialization import serialize_message

    recorder = Recorder(tmp_path)
    recorder.write("/perception_node/competency", serialize_message(Float32(data=0.25)), 10)
    detail = json.dumps({"cause": "noise"})
    recorder.write(EXPLANATION_DETAIL, serialize_message(String(data=detail)), 20)
    recorder.close()
    recorder.close()  # idempotent
    messages = read_bag(tmp_path / "bag")
    assert [(topic, t) for topic, t, _ in messages] == [("/perception_node/competency", 10),
                                                        (EXPLANATION_DETAIL, 20)]
    assert messages[0][2].data == 0.25
    assert (tmp_path / "explanations.jsonl").read_text() == detail + "\n"
