"""What a robotics team builds on: typed messages carrying the source frame's header, relative
topics that namespaces and remapping move, several cameras through one graph, live parameters,
and diagnostics that go up and come back down."""

import shutil

import numpy as np
import pytest
from competency_cf_msgs.msg import Competency, Counterfactual, Explanation
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Image

from competency_cf.ros.diagnostics import ERROR, OK, WARN
from competency_cf.ros.image_codec import tensor_to_msg
from competency_cf.ros.pipeline import start
from scenarios import DARKENING, NOMINAL

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def frames():
    """A competent frame and a low-competency one of the lunar domain."""
    from competency_cf.ros.graph_bench import competent_and_low_frames

    clean, noisy = competent_and_low_frames("lunar", 2)
    return clean[0], noisy[0]


def _msg(image, frame_id: str, sec: int, nanosec: int = 0) -> Image:
    msg = tensor_to_msg(image)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    return msg


def _key(header):
    return header.frame_id, header.stamp.sec, header.stamp.nanosec


def test_two_namespaces_side_by_side_do_not_cross(graph, tmp_path):
    """Robot a drives through a darkening, robot b only nominal ground: each namespace's outputs
    hold only its own camera's frames, and b's quiet drive raises nothing."""
    (tmp_path / "a.yaml").write_text(DARKENING)
    (tmp_path / "b.yaml").write_text(NOMINAL)
    robot_a = [graph.node("perception_node", namespace="/a", cooldown_s=30.0),
               graph.node("counterfactual_node", namespace="/a", refine=False),
               graph.node("explainer_node", namespace="/a")]
    robot_b = [graph.node("perception_node", namespace="/b", cooldown_s=30.0)]
    cameras = [graph.node("sim_camera_node", namespace=f"/{robot}", rate_hz=10.0,
                          frame_id=f"{robot}_mast", scenario=str(tmp_path / f"{robot}.yaml"))
               for robot in "ab"]
    sink = graph.plain("sink")
    got = {name: [] for name in ("a_competency", "b_competency", "a_explanations",
                                 "b_triggers", "a_triggers")}
    qos = QoSProfile(depth=100)
    for robot in "ab":
        sink.create_subscription(Competency, f"/{robot}/competency",
                                 got[f"{robot}_competency"].append, qos)
        sink.create_subscription(Image, f"/{robot}/low_competency/image",
                                 got[f"{robot}_triggers"].append, qos)
    sink.create_subscription(Explanation, "/a/explanation/detail", got["a_explanations"].append,
                             qos)
    graph.start(*robot_a, *robot_b, *cameras)
    assert graph.spin_until(lambda: all(c.finished for c in cameras) and got["a_explanations"])
    assert {m.header.frame_id for m in got["a_competency"]} == {"a_mast"}
    assert {m.header.frame_id for m in got["b_competency"]} == {"b_mast"}
    assert len(got["a_triggers"]) == 1 and not got["b_triggers"]
    explanation = got["a_explanations"][0]
    assert _key(explanation.header) == _key(got["a_triggers"][0].header)
    assert explanation.cause == "brightness" and explanation.final


def test_four_cameras_one_batch_per_round_outputs_per_camera(graph, frames):
    clean, low = frames
    names = ["front", "rear", "left", "right"]
    node = graph.node("perception_node", cameras=names)
    # Configured, not active: no timer, so the rounds are driven here.
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    batches = []
    evaluate = node.scorer.evaluate
    node.scorer.evaluate = lambda images: batches.append(len(images)) or evaluate(images)
    for camera in node.cameras:
        camera.frames.put(_msg(low if camera.name in ("left", "right") else clean,
                               f"{camera.name}_optical", 5))
    node._process()
    assert batches == [4] and node.processed == 4
    fired = {camera.name: camera.trigger.fired for camera in node.cameras}
    assert fired == {"front": 0, "rear": 0, "left": 1, "right": 1}
    # One camera silent this round: the batch holds the others' newest frames only.
    for camera in node.cameras[:3]:
        camera.frames.put(_msg(clean, f"{camera.name}_optical", 6))
    node._process()
    assert batches == [4, 3]


def _configured_perception(graph):
    """A configured, inactive perception node (rounds are run by the test) and its camera."""
    node = graph.node("perception_node")
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    return node, node.cameras[0]


def test_the_newest_frame_wins_and_the_stale_ones_are_counted(graph, frames):
    """A scorer slower than the camera: of the frames that arrived since the last round, the
    newest is scored and every older one is counted as dropped."""
    clean, _ = frames
    node, camera = _configured_perception(graph)
    scored = []
    camera.competency_pub.publish = scored.append  # inactive publisher: read what goes out
    for second in range(5):
        camera.frames.put(_msg(clean, "mast", second))
    node._process()
    assert node.processed == 1 and camera.frames.dropped == 4
    assert [m.header.stamp.sec for m in scored] == [4]
    node._process()  # nothing new: nothing scored twice
    assert node.processed == 1 and len(scored) == 1


def test_frames_arrive_as_bytes_and_only_the_scored_one_is_decoded(graph, frames):
    from rclpy.serialization import serialize_message

    clean, _ = frames
    node, camera = _configured_perception(graph)
    camera.frames.put(b"\x00\x01\x00\x00 not a frame")  # malformed bytes: counted, skipped
    assert not node._process() and node.health.totals["bad_frames"] == 1
    camera.frames.put(serialize_message(_msg(clean, "mast", 3)))
    assert node._process() and node.processed == 1
    assert float(camera.last["competency"]) >= node.threshold


def test_the_debug_image_tints_the_place_of_a_spatial_explanation_while_competency_is_low(
        graph, frames):
    from competency_cf.ros.image_codec import to_rgb

    clean, low = frames
    node, camera = _configured_perception(graph)
    debug = []
    camera.debug_pub.publish = debug.append  # inactive publisher: read what goes out
    weights = [0.0] * 64
    weights[7] = 1.0  # the upper-right cell of an 8 x 8 map
    node._on_explanation(Explanation(text="An unfamiliar object in the upper right.",
                                     region="upper right", region_grid=8, region_map=weights))
    for image in (low, clean):
        camera.frames.put(_msg(image, "", 1))
        assert node._process()
        shown = to_rgb(debug[-1])
        side, scale = shown.shape[1], shown.shape[1] // 64  # small frames are enlarged
        original = to_rgb(tensor_to_msg(image)).repeat(scale, 0).repeat(scale, 1)
        corner = np.s_[:side // 8, -side // 8:]
        redder = shown[corner][..., 0].astype(int) - original[corner][..., 0]
        if image is low:  # tinted red while competency is low
            assert redder.mean() > 20
        else:  # competent again: the map is gone
            assert (shown[corner] == original[corner]).all()


def test_a_round_that_ran_long_is_made_up_once(graph, frames):
    """Ticks that came while a round ran are kept, two at most: the next round follows at once,
    so the rate holds on average without a burst after a stall."""
    from types import SimpleNamespace

    clean, _ = frames
    node = graph.node("perception_node")
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    node.worker = SimpleNamespace(notify=lambda: None)  # rounds are stepped here
    for _ in range(5):  # five ticks during one long round
        node._on_tick()
    camera = node.cameras[0]
    for second in range(2):
        camera.frames.put(_msg(clean, "mast", second))
        assert node._step() is (second == 0)  # True: another tick waits
    assert node.processed == 2 and not node._step()


def test_stereo_pair_sharing_stamps_is_answered_and_explained_per_camera(graph, frames):
    """Four cameras, left and right a stereo pair with one stamp: every camera's trigger gets
    its own counterfactual and explanation, matched by (frame_id, stamp)."""
    clean, low = frames
    names = ["front", "rear", "left", "right"]
    perception = graph.node("perception_node", cameras=names, cooldown_s=0.0)
    counterfactual = graph.node("counterfactual_node", refine=False)
    explainer = graph.node("explainer_node")
    source, sink = graph.plain("cameras"), graph.plain("sink")
    publishers = {name: source.create_publisher(Image, f"{name}/image_raw", 10)
                  for name in names}
    got = {"competency": [], "counterfactuals": [], "explanations": []}
    qos = QoSProfile(depth=100)
    for name in names:
        sink.create_subscription(Competency, f"{name}/competency",
                                 lambda m, name=name: got["competency"].append((name, m)), qos)
    sink.create_subscription(Counterfactual, "counterfactual/detail",
                             got["counterfactuals"].append, qos)
    sink.create_subscription(Explanation, "explanation/detail", got["explanations"].append, qos)
    graph.start(counterfactual, explainer, perception)
    assert graph.spin_until(lambda: all(p.get_subscription_count() for p in publishers.values()))
    stamps = {"front": (7, 0), "rear": (7, 500), "left": (8, 0), "right": (8, 0)}
    sent = {name: _msg(low, f"{name}_optical", *stamps[name]) for name in names}
    expected = {_key(msg.header) for msg in sent.values()}

    def explained():
        return expected <= {_key(e.header) for e in got["explanations"]}

    # Frames go out until each camera's low frame was scored (a best-effort camera topic may
    # drop one), then until all four are explained.
    def publish():
        scored = {name for name, m in got["competency"]}
        for name in names:
            if name not in scored:
                publishers[name].publish(sent[name])

    assert graph.spin_until(explained, each=publish, period=0.2), got
    assert {(name, m.header.frame_id) for name, m in got["competency"]} == \
        {(name, f"{name}_optical") for name in names}
    assert expected <= {_key(c.header) for c in got["counterfactuals"]}
    assert all(c.final and c.image.header == c.header for c in got["counterfactuals"])
    assert not counterfactual.jobs.dropped and not explainer.pairs.dropped


def _answering(graph, **parameters):
    """An active counterfactual node and the list its answers arrive in."""
    node = graph.node("counterfactual_node", **parameters)
    answered = []
    subscription = graph.plain("sink").create_subscription(
        Counterfactual, "counterfactual/detail", answered.append, QoSProfile(depth=100))
    graph.start(node)
    assert graph.spin_until(lambda: subscription.get_publisher_count() >= 1)
    return node, answered


def test_a_flooding_camera_cannot_starve_another(graph, frames):
    """Triggers wait one per camera: a camera that floods the node loses its own stale triggers
    (counted for it), never another camera's."""
    clean, low = frames
    node, answered = _answering(graph, refine=False)
    for second in range(20):
        node._on_trigger(_msg(low, "busy", second))
    node._on_trigger(_msg(low, "quiet", 0))
    assert graph.spin_until(lambda: len(answered) + sum(node.jobs.dropped.values()) == 21
                            and not len(node.jobs))
    frame_ids = [m.header.frame_id for m in answered]
    assert frame_ids.count("quiet") == 1
    assert set(node.jobs.dropped) <= {"busy"}
    assert frame_ids.count("busy") + node.jobs.dropped["busy"] == 20


def test_refine_set_at_run_time_acts_on_the_next_trigger(graph, frames):
    _, low = frames
    node, answered = _answering(graph, refine=True, lgd_budget_ms=50.0)
    node._on_trigger(_msg(low, "mast", 1))
    assert graph.spin_until(lambda: any(m.final for m in answered))
    assert [m.final for m in answered] == [False, True] and answered[1].method == "LGD"
    assert node.set_parameters([Parameter("refine", value=False)])[0].successful
    node._on_trigger(_msg(low, "mast", 2))
    assert graph.spin_until(lambda: len(answered) >= 3)
    assert answered[2].final and answered[2].method in ("LNN", "Reco")


def test_diagnostics_warn_on_a_stalled_camera_and_recover(graph, frames):
    clean, _ = frames
    node = graph.node("perception_node", stall_s=0.3)
    graph.start(node)
    assert graph.spin_until(lambda: node.health.level()[0] == WARN)
    assert "no frames for" in node.health.level()[1]
    status = node.diagnostic_status()
    assert status.level == bytes([WARN]) and status.name == "/perception_node"
    publisher = graph.plain("camera").create_publisher(Image, "image_raw", 10)
    assert graph.spin_until(lambda: node.health.level()[0] == OK,
                            each=lambda: publisher.publish(_msg(clean, "mast", 1)))
    values = {kv.key: kv.value for kv in node.diagnostic_status().values}
    assert float(values["frames_rate_hz"]) > 0 and values["state"] == "active"


def test_diagnostics_error_while_models_are_missing_then_ok(graph, tmp_path):
    from competency_cf.resources import models_dir

    models = tmp_path / "models"
    node = graph.node("perception_node", models_dir=str(models))
    assert not start(node)
    level, message = node.health.level()
    assert level == ERROR and str(models) in message
    assert node.diagnostic_status().level == bytes([ERROR])
    shutil.copytree(models_dir("lunar"), models)
    assert start(node)
    assert node.health.level()[0] in (OK, WARN)  # WARN only until the first frame
    assert node.health.fatal is None


def test_explainer_warns_after_a_failure_and_clears(graph, frames):
    clean, low = frames
    explainer = graph.node("explainer_node")
    graph.start(explainer)
    explainer.health.window_s = 0.5  # windows made from now on

    class Broken:
        backend = "broken"

        def explain(self, *args):
            raise RuntimeError("simulated backend failure")

    working, explainer.explainer = explainer.explainer, Broken()
    trigger = _msg(low, "mast", 3)
    explainer._on_trigger(trigger)
    explainer._on_counterfactual(Counterfactual(header=trigger.header, method="Reco",
                                                image=_msg(clean, "mast", 3), final=True))
    assert graph.spin_until(lambda: explainer.health.level()[0] == WARN)
    assert "errors" in explainer.health.level()[1]
    explainer.explainer = working
    assert graph.spin_until(lambda: explainer.health.level()[0] == OK)
    assert explainer.health.totals["errors"] == 1


def test_every_writable_parameter_is_read_live():
    """A parameter that is not read-only must act when set on a running node: these are the
    ones the nodes read per frame, per trigger, or in their on-set callback."""
    import importlib

    from competency_cf.ros.pipeline import NODE_CLASSES

    live = {"perception_node": {"max_rate_hz", "competency_threshold", "hysteresis",
                                "cooldown_s", "publish_debug_image", "debug_image_max_width"},
            "counterfactual_node": {"refine", "lgd_budget_ms"},
            "explainer_node": {"timeout_s"}, "sim_camera_node": {"loop"}}
    for name, (module, _) in NODE_CLASSES.items():
        writable = {p.name for p in importlib.import_module(module).PARAMS if not p.read_only}
        assert writable == live[name], name
