"""The recorder writes a readable rosbag2 (MCAP) + JSONL, and closes both on a real SIGINT."""

import json
import os
import signal
import subprocess
import sys
import time

import rclpy
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


def test_sigint_leaves_complete_files(tmp_path):
    out = tmp_path / "recording"
    process = subprocess.Popen([sys.executable, "-m", "competency_cf", "record", "--out",
                                str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=dict(os.environ))
    try:
        line = process.stdout.readline()
        assert "recording" in line, line
        context = rclpy.Context()
        rclpy.init(context=context)
        node = rclpy.create_node("publisher", context=context)
        competency = node.create_publisher(Float32, "/perception_node/competency", 10)
        details = node.create_publisher(String, EXPLANATION_DETAIL, 10)
        deadline = time.monotonic() + 4.0
        sent = 0
        while time.monotonic() < deadline:
            competency.publish(Float32(data=0.5))
            details.publish(String(data=json.dumps({"cause": "brightness", "n": sent})))
            sent += 1
            time.sleep(0.05)
        node.destroy_node()
        context.try_shutdown()
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "recorded" in output
    messages = read_bag(out / "bag")
    topics = {topic for topic, _, _ in messages}
    assert topics == {"/perception_node/competency", EXPLANATION_DETAIL}
    lines = (out / "explanations.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line)["cause"] == "brightness" for line in lines)
    assert (out / "bag" / "metadata.yaml").is_file()
