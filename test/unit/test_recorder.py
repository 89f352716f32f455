"""The recorder writes a readable rosbag2 (MCAP) + JSONL, typed messages included."""

import json

from competency_cf_msgs.msg import Competency, Explanation

from competency_cf.ros.recorder import EXPLANATION_DETAIL, TOPICS, Recorder, read_bag


def test_in_process_recording_reads_back(tmp_path):
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import Reader

    recorder = Recorder(tmp_path, TOPICS)  # topics and types given: no graph needed
    scored = Competency(competency=0.25, class_name="crater", low=True, estimator="parce")
    scored.header.frame_id, scored.header.stamp.sec = "mast", 7
    recorder.write("/competency", serialize_message(scored), 10)
    explanation = Explanation(cause="noise", direction="high", confidence=0.8, text="Grainy.",
                              candidates=["noise", "pixelation"], final=True)
    explanation.header.frame_id = "mast"
    recorder.write(EXPLANATION_DETAIL, serialize_message(explanation), 20)
    recorder.close()
    recorder.close()  # idempotent
    messages = read_bag(tmp_path / "bag")
    assert [(topic, t) for topic, t, _ in messages] == [("/competency", 10),
                                                        (EXPLANATION_DETAIL, 20)]
    assert messages[0][2].competency == 0.25 and messages[0][2].header.frame_id == "mast"
    record = json.loads((tmp_path / "explanations.jsonl").read_text())
    assert record["cause"] == "noise" and record["header"]["frame_id"] == "mast"
    assert record["candidates"] == ["noise", "pixelation"] and record["final"] is True
    # The bag carries its own type definitions: a reader without competency_cf_msgs decodes it.
    with Reader(tmp_path / "bag") as reader:
        definitions = {c.topic: c.msgdef.data for c in reader.connections}
    assert "float32 p_in_distribution" in definitions["/competency"]
