"""`competency-cf record` closes its files completely on a real SIGINT."""

import json
import signal

import pytest
from competency_cf_msgs.msg import Competency, Explanation

from competency_cf.ros.recorder import EXPLANATION_DETAIL, read_bag

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_sigint_leaves_complete_files(tmp_path, processes, graph):
    out = tmp_path / "recording"
    process = processes.python("-m", "competency_cf", "record", "--out", str(out))
    line = process.stdout.readline()
    assert "recording" in line, line
    node = graph.plain("publisher")
    competency = node.create_publisher(Competency, "/competency", 10)
    details = node.create_publisher(Explanation, EXPLANATION_DETAIL, 10)
    assert graph.spin_until(lambda: competency.get_subscription_count() >= 1
                            and details.get_subscription_count() >= 1)
    sent = [0]

    def publish():
        competency.publish(Competency(competency=0.5))
        details.publish(Explanation(cause="brightness", text=f"explanation {sent[0]}"))
        sent[0] += 1

    # explanations.jsonl is flushed per line: five there, and the recorder is taking both.
    jsonl = out / "explanations.jsonl"
    assert graph.spin_until(lambda: len(jsonl.read_text().splitlines()) >= 5, each=publish)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert "recorded" in output
    messages = read_bag(out / "bag")
    topics = {topic for topic, _, _ in messages}
    # the recorder also records its own /diagnostics (a default topic)
    assert topics - {"/diagnostics"} == {"/competency", EXPLANATION_DETAIL}
    lines = jsonl.read_text().splitlines()
    assert len(lines) >= 5 and all(json.loads(line)["cause"] == "brightness" for line in lines)
    assert len([m for t, _, m in messages if t == EXPLANATION_DETAIL]) == len(lines)
    assert (out / "bag" / "metadata.yaml").is_file()
