"""Node parameters on running nodes: ranges and choices are enforced; the live ones act at
once."""

import pytest
from rclpy.parameter import Parameter

from competency_cf.ros.image_codec import tensor_to_msg
from competency_cf.ros.pipeline import start

pytestmark = pytest.mark.ros


def test_ranges_and_choices_are_enforced(graph):
    node = graph.node("perception_node")
    assert not node.set_parameters([Parameter("hysteresis", value=0.9)])[0].successful
    assert not node.set_parameters([Parameter("max_rate_hz", value=0.0)])[0].successful
    assert not node.set_parameters([Parameter("domain", value="speed")])[0].successful  # read-only
    assert not start(graph.node("explainer_node", backend="gpt"))


@pytest.fixture(scope="module")
def dips():
    """A competent frame and a low-competency one of the lunar domain."""
    from competency_cf.ros.graph_bench import competent_and_low_frames

    clean, noisy = competent_and_low_frames("lunar", 2)
    return tensor_to_msg(clean[0]), tensor_to_msg(noisy[0])


def _score(node, msg, seconds: float) -> None:
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(seconds), int(seconds % 1 * 1e9)
    node.cameras[0].frames.put(msg)
    node._process()


def test_trigger_settings_set_at_run_time_act_on_the_next_frame(graph, dips):
    competent, low = dips
    node = graph.node("perception_node", cooldown_s=30.0)
    graph.start(node)
    for second in range(4):  # four dips a second apart: the 30 s cooldown lets one fire
        _score(node, competent, second)
        _score(node, low, second + 0.5)
    assert node.cameras[0].trigger.fired == 1
    assert node.set_parameters([Parameter("cooldown_s", value=0.0)])[0].successful
    for second in range(4, 8):
        _score(node, competent, second)
        _score(node, low, second + 0.5)
    assert node.cameras[0].trigger.fired == 5
    # A threshold below every competency: nothing is low any more.
    assert node.set_parameters([Parameter("competency_threshold", value=0.0)])[0].successful
    _score(node, competent, 8)
    _score(node, low, 8.5)
    assert node.cameras[0].trigger.fired == 5 and node.threshold == 0.0
    # -1 goes back to the model's own threshold (parce.json).
    assert node.set_parameters([Parameter("competency_threshold", value=-1.0)])[0].successful
    assert node.threshold == node.estimator.threshold


def test_max_rate_set_at_run_time_retimes_the_scoring_timer(graph):
    node = graph.node("perception_node", max_rate_hz=10.0)
    graph.start(node)
    assert node.rate_timer.timer_period_ns == 100_000_000
    assert node.set_parameters([Parameter("max_rate_hz", value=25.0)])[0].successful
    assert node.rate_timer.timer_period_ns == 40_000_000
