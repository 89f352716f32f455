"""The nodes in one process: sim camera -> perception -> counterfactual -> explainer.

Runs the committed lunar models on rendered frames with an injected brightness segment and
checks the trigger, the counterfactual and the explanation, all carrying the trigger frame's
stamp. Every wait is for a condition (with a generous deadline), and the camera starts only once
the other nodes are active, so how fast the host is changes when things happen, not what happens.
DDS stays on loopback (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, set by the Makefile).
"""

import threading

import numpy as np
import pytest
from competency_cf_msgs.msg import Competency, Counterfactual, Explanation, ScenarioEvent
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image

from competency_cf.ros.image_codec import encode
from scenarios import DARKENING

pytestmark = pytest.mark.ros

SHORT_LOOP = """
segments:
  - {cause: nominal, seconds: 0.5}
  - {cause: brightness, seconds: 1.0, factor: 2.0}
"""


def _stamp(header):
    return header.stamp.sec, header.stamp.nanosec


def test_brightness_segment_is_detected_counterfactualised_and_explained(graph, tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(DARKENING)
    # No budget on LGD: the test checks what it finds, not how fast.
    nodes = [graph.node("perception_node", cooldown_s=30.0),
             graph.node("counterfactual_node", lgd_budget_ms=60000.0),
             graph.node("explainer_node")]
    # At 10 Hz the scenario's frames are fixed (rendered by frame index): every nominal frame is
    # competent and most brightness frames are not, so the one trigger is the segment's.
    camera = graph.node("sim_camera_node", scenario=str(scenario), rate_hz=10.0)
    sink = graph.plain("sink")
    got = {"triggers": [], "counterfactuals": [], "details": [], "explanations": [],
           "competency": []}
    qos = QoSProfile(depth=50)
    sink.create_subscription(Image, "low_competency/image",
                             lambda m: got["triggers"].append(_stamp(m.header)), qos)
    sink.create_subscription(Image, "counterfactual/image",
                             lambda m: got["counterfactuals"].append(_stamp(m.header)), qos)
    sink.create_subscription(Counterfactual, "counterfactual/detail", got["details"].append, qos)
    sink.create_subscription(Explanation, "explanation/detail", got["explanations"].append, qos)
    sink.create_subscription(Competency, "competency", got["competency"].append, qos)
    graph.start(*nodes, camera)
    # The final explanation is the last output of a trigger.
    graph.spin_until(lambda: camera.finished and any(e.final for e in got["explanations"]))
    assert camera.finished, "the scenario did not play to its end"
    assert got["competency"], "the perception node published no competency"
    scored = got["competency"][0]
    assert scored.header.frame_id == "camera" and scored.estimator == "parce"
    assert scored.class_name and 0.0 <= scored.competency <= 1.0
    assert len(got["triggers"]) == 1, got["triggers"]
    trigger = got["triggers"][0]
    assert trigger in got["counterfactuals"]
    low = [c for c in got["competency"] if _stamp(c.header) == trigger]
    assert low and low[0].low and low[0].competency < low[0].threshold
    details = [d for d in got["details"] if _stamp(d.header) == trigger]
    # The fast image says a refinement follows; LGD's is the final one.
    assert [(d.method == "LGD", d.final) for d in details] == [(False, False), (True, True)]
    assert all(d.competency_after > d.competency_before for d in details)
    assert all(d.header.frame_id == "camera" and d.image.header == d.header for d in details)
    explanations = [e for e in got["explanations"] if _stamp(e.header) == trigger]
    assert explanations and all(e.cause == "brightness" for e in explanations), explanations
    assert explanations[-1].final and explanations[-1].method == "LGD"
    assert all(e.header.frame_id == "camera" and e.text for e in explanations)


@pytest.mark.parametrize("fault", ["raises", "hangs"])
def test_a_failing_or_hanging_explainer_stops_nothing_else(graph, tmp_path, fault):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SHORT_LOOP)
    perception = graph.node("perception_node", cooldown_s=0.5)
    counterfactual = graph.node("counterfactual_node", refine=False)
    explainer = graph.node("explainer_node", timeout_s=0.2)
    camera = graph.node("sim_camera_node", scenario=str(scenario), rate_hz=20.0, loop=True)
    graph.start(perception, counterfactual, explainer)
    release = threading.Event()

    class Broken:
        backend = "broken"

        def explain(self, *args):
            if fault == "hangs":
                release.wait(600.0)
            raise RuntimeError("simulated backend failure")

    explainer.explainer = Broken()
    sink = graph.plain("sink")
    counts = {"competency": 0, "counterfactuals": 0}

    def count(name):
        return lambda msg: counts.__setitem__(name, counts[name] + 1)

    sink.create_subscription(Competency, "competency", count("competency"), 50)
    sink.create_subscription(Image, "counterfactual/image", count("counterfactuals"), 50)
    graph.start(camera)

    def failures():
        return explainer.errors if fault == "raises" else explainer.timeouts

    # After the explainer failed, perception goes on scoring and the counterfactual node answers
    # a later trigger (the looping scenario brings the brightness segment back every 1.5 s).
    at_failure = {}

    def going_on_after_failure():
        if failures() and not at_failure:
            at_failure.update(counts)
        return bool(at_failure) and counts["competency"] >= at_failure["competency"] + 10 \
            and counts["counterfactuals"] >= at_failure["counterfactuals"] + 1

    try:
        assert graph.spin_until(going_on_after_failure), (counts, at_failure)
    finally:
        release.set()
    assert explainer.explained == 0


def test_sim_camera_plays_every_frame_of_its_script(graph, tmp_path):
    """The scenario advances per frame: 0.2 s nominal then 0.3 s brightness at 20 Hz are
    frames 0-3 and 4-9, however late the timer fires."""
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("segments: [{cause: nominal, seconds: 0.2}, "
                        "{cause: brightness, seconds: 0.3, factor: 2.0}]")
    camera = graph.node("sim_camera_node", scenario=str(scenario), rate_hz=20.0)
    events = []
    subscription = graph.plain("sink").create_subscription(
        ScenarioEvent, "scenario_event", events.append, QoSProfile(depth=50))
    camera.trigger_configure()  # creates the publisher: match it before the first frame
    assert graph.spin_until(lambda: subscription.get_publisher_count() >= 1)
    camera.trigger_activate()
    assert graph.spin_until(lambda: camera.finished and len(events) == 10)
    assert [(e.frame, e.cause) for e in events] == \
        [(i, "nominal") for i in range(4)] + [(i, "brightness") for i in range(4, 10)]
    assert all(e.header.frame_id == "camera" for e in events)


def test_perception_survives_garbage_frames(graph):
    perception = graph.node("perception_node")
    graph.start(perception)
    source = graph.plain("source")
    publisher = source.create_publisher(Image, "image_raw", 10)
    sink = graph.plain("sink")
    scores = []
    subscription = sink.create_subscription(Competency, "competency",
                                            lambda m: scores.append(m.competency), 10)
    good = encode(np.full((64, 64, 3), 90, np.uint8), "rgb8")
    bad = [encode(np.zeros((4, 4, 3), np.uint8), "rgb8"), Image(encoding="yuv422"),
           Image(height=64, width=64, encoding="rgb8", step=192, data=b"\x00" * 10)]
    bad[0].step = 2  # shorter than a row

    def bad_frames():
        return perception.health.totals["bad_frames"]
    assert graph.spin_until(lambda: publisher.get_subscription_count() >= 1
                            and subscription.get_publisher_count() >= 1)  # discovery
    for sent, frame in enumerate(bad + [good] + bad + [good], start=1):
        publisher.publish(frame)
        # One frame at a time, each taken before the next goes out: none is replaced unread.
        assert graph.spin_until(lambda: perception.processed + bad_frames() == sent)
    assert graph.spin_until(lambda: len(scores) == 2)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert bad_frames() == 6 and perception.cameras[0].frames.dropped == 0


def test_missing_models_fail_the_configure_transition(graph, tmp_path):
    from competency_cf.ros.pipeline import start

    assert not start(graph.node("perception_node", models_dir=str(tmp_path / "no_models")))


# The committed defaults: PaRCE for lunar, the fused estimator for speed (models/README.md).
@pytest.mark.parametrize("domain, expected", [("lunar", "parce"), ("speed", "fused")])
def test_perception_onnx_backend_scores_like_torch(graph, tmp_path, domain, expected):
    import shutil

    from competency_cf.competency.onnx_backend import ONNX_FILE, export_onnx
    from competency_cf.competency.parce import load_estimator
    from competency_cf.resources import models_dir
    from competency_cf.ros.image_codec import to_tensor
    from competency_cf.ros.pipeline import start

    models = tmp_path / "models"
    shutil.copytree(models_dir(domain), models)
    # No exported graph yet: configure fails, naming the file.
    assert not start(graph.node("perception_node", models_dir=str(models), backend="onnx"))
    reference = load_estimator(models, "cpu", kind="auto")
    export_onnx(reference, models / ONNX_FILE, 64)
    node = graph.node("perception_node", domain=domain, models_dir=str(models),
                      backend="onnx", estimator="auto")
    graph.start(node)
    assert node.estimator.name == expected
    frame = encode(np.full((120, 160, 3), 100, np.uint8), "rgb8")
    node.cameras[0].frames.put(frame)
    node._process()
    assert node.processed == 1
    competency = float(reference.evaluate(to_tensor(frame, 64)).competency[0])
    assert abs(float(node.cameras[0].last["competency"]) - competency) < 1e-3
    assert len(node.model_hash) == 25
    assert node.class_names[0] == {"lunar": "sunny_smooth", "speed": "30"}[domain]


def _counterfactual(header, method="Reco", final=True):
    image = encode(np.full((64, 64, 3), 100, np.uint8), "rgb8", header)
    return Counterfactual(header=header, method=method, image=image, final=final)


def test_a_counterfactual_before_its_trigger_frame_is_still_explained(graph):
    """Two topics may deliver in either order: the counterfactual waits for its frame."""
    explainer = graph.node("explainer_node")
    graph.start(explainer)
    frame = encode(np.full((64, 64, 3), 120, np.uint8), "rgb8")
    frame.header.stamp.sec, frame.header.stamp.nanosec = 12, 345
    explainer._on_counterfactual(_counterfactual(frame.header))
    assert len(explainer.pairs) == 0 and explainer.unpaired == 0
    explainer._on_trigger(frame)
    assert len(explainer.pairs) == 1 and not explainer.early
    assert graph.spin_until(lambda: explainer.explained == 1)


def test_a_counterfactual_whose_frame_never_comes_is_counted(graph):
    explainer = graph.node("explainer_node", cache_size=2)
    graph.start(explainer)
    for second in range(3):
        header = Image().header
        header.stamp.sec, header.frame_id = second, "left"
        explainer._on_counterfactual(_counterfactual(header))
    assert explainer.unpaired == 1 and list(explainer.early) == [("left", 1, 0), ("left", 2, 0)]


@pytest.mark.parametrize("name", ["perception_node", "counterfactual_node", "explainer_node",
                                  "sim_camera_node"])
def test_lifecycle_transitions_release_what_they_created(graph, name):
    from competency_cf.ros.pipeline import start

    node = graph.node(name)
    assert start(node)
    assert node.inputs and len(node._lifecycle_publishers) >= 2
    node.trigger_deactivate()
    assert node.inputs == []
    node.trigger_cleanup()
    assert node._lifecycle_publishers == []
    assert start(node)  # configurable again after cleanup
    node.trigger_shutdown()
    assert node.inputs == []
