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


def test_trigger_frames_and_counterfactuals_are_saved_as_pngs(tmp_path):
    import numpy as np
    from competency_cf_msgs.msg import Counterfactual
    from PIL import Image as PILImage
    from rclpy.serialization import serialize_message

    from competency_cf.ros.image_codec import encode

    recorder = Recorder(tmp_path, TOPICS)
    frame = encode(np.full((48, 64, 3), 200, np.uint8), "rgb8")
    frame.header.frame_id, frame.header.stamp.sec, frame.header.stamp.nanosec = "left", 12, 5
    recorder.write("/low_competency/image", serialize_message(frame), 10)
    answer = Counterfactual(header=frame.header, method="LGD", final=True,
                            image=encode(np.full((64, 64, 3), 90, np.uint8), "rgb8"))
    recorder.write("/counterfactual/detail", serialize_message(answer), 20)
    broken = Counterfactual(header=frame.header, method="Reco")  # an empty image: no PNG
    recorder.write("/counterfactual/detail", serialize_message(broken), 30)
    recorder.close()
    saved = sorted(path.name for path in (tmp_path / "triggers").iterdir())
    assert saved == ["left_12.000000005_LGD.png", "left_12.000000005_frame.png"]
    pixels = np.asarray(PILImage.open(tmp_path / "triggers" / saved[1]))
    assert pixels.shape == (48, 64, 3) and (pixels == 200).all()
    assert len(read_bag(tmp_path / "bag")) == 3  # the bag keeps all three as they came


def test_a_recording_splits_by_size_and_by_time_with_zstd_chunks(tmp_path):
    import pytest
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import Reader

    message = serialize_message(Competency(competency=0.5, class_name="x" * 500))
    by_size = Recorder(tmp_path / "size", TOPICS, compress=True, split_mb=0.002)
    for index in range(10):  # about 600 bytes each: a new bag after every fourth message
        by_size.write("/competency", message, index)
    by_size.close()
    assert [path.name for path in by_size.bags] == ["bag", "bag_1", "bag_2"]
    assert [len(read_bag(path)) for path in by_size.bags] == [4, 4, 2]
    with Reader(by_size.bags[0]) as reader:  # every part is a complete, zstd-chunked bag
        assert reader.message_count == 4
    assert b"zstd" in next(by_size.bags[0].glob("*.mcap")).read_bytes()

    by_time = Recorder(tmp_path / "time", TOPICS, split_s=1.0)
    for time_ns in (0, 400_000_000, 999_000_000, 1_000_000_000, 2_500_000_000):
        by_time.write("/competency", message, time_ns)
    by_time.close()
    assert [len(read_bag(path)) for path in by_time.bags] == [3, 1, 1]
    with pytest.raises(ValueError):
        Recorder(tmp_path / "bad", TOPICS, split_s=0.0)
