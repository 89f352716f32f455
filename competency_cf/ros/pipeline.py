"""All nodes in one process on one MultiThreadedExecutor, and the per-node entry points.

`competency-cf pipeline --domain D` (or the `pipeline` script) runs the perception,
counterfactual and explainer nodes (and the sim camera with `--sim-camera`) with the parameters
of config/<domain>.yaml. Topics are relative: `--namespace /rover1` moves the whole graph, and
ROS remapping arguments (`--ros-args -r image_raw:=/rover1/front/image_raw`) wire it up.
Each node also has its own script (`perception_node`, ...) for graphs spread over processes or
hosts.
"""

from __future__ import annotations

import argparse
import sys

# In start-up order: the camera last, so no frame goes out before the nodes that take it are
# active.
NODE_CLASSES = {
    "perception_node": ("competency_cf.ros.perception_node", "PerceptionNode"),
    "counterfactual_node": ("competency_cf.ros.counterfactual_node", "CounterfactualNode"),
    "explainer_node": ("competency_cf.ros.explainer_node", "ExplainerNode"),
    "sim_camera_node": ("competency_cf.ros.sim_camera_node", "SimCameraNode"),
}


def create_node(name: str, **kwargs):
    import importlib

    module, cls = NODE_CLASSES[name]
    return getattr(importlib.import_module(module), cls)(**kwargs)


def start(node) -> bool:
    """Configure and activate a lifecycle node when its `autostart` parameter says so."""
    from rclpy.lifecycle import TransitionCallbackReturn

    if not node.get_parameter("autostart").value:
        return True
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        node.get_logger().error("configure failed; the node stays unconfigured")
        return False
    return node.trigger_activate() == TransitionCallbackReturn.SUCCESS


def spin_nodes(nodes, duration_s: float | None = None, on_tick=None, until=None) -> None:
    """Spin `nodes` on one MultiThreadedExecutor until Ctrl-C (or `duration_s`, or `until()` is
    true); on the way out, stop the nodes' inputs and shut the executor down (`teardown(nodes)`
    does the rest)."""
    import time

    import rclpy
    from rclpy.executors import ExternalShutdownException

    from competency_cf.ros.executor import make_executor, stop_spinning

    executor = make_executor(nodes)
    started = time.monotonic()
    try:
        while rclpy.ok() and (duration_s is None or time.monotonic() - started < duration_s) \
                and not (until is not None and until()):
            try:
                executor.spin_once(timeout_sec=0.1)
            except RuntimeError:
                # Ctrl-C can shut the context down between the check above and the wait set
                # spin_once builds (rclpy raises RCLError, a RuntimeError): that is a normal exit.
                if rclpy.ok():
                    raise
                break
            if on_tick is not None:
                on_tick()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stop_spinning(executor, nodes)


def run_pipeline(argv: list[str] | None = None) -> int:
    import rclpy

    from competency_cf.resources import config_file
    from competency_cf.ros.dds_profile import use_large_frame_profile
    from competency_cf.ros.executor import teardown

    parser = argparse.ArgumentParser(prog="pipeline", description=__doc__)
    parser.add_argument("--domain", default="lunar", choices=("lunar", "speed"))
    parser.add_argument("--params-file", default=None,
                        help="node parameters (default: the installed config/<domain>.yaml)")
    parser.add_argument("--sim-camera", action="store_true",
                        help="also run the scripted sim camera (publishes image_raw)")
    parser.add_argument("--namespace", default="", help="namespace of every node and topic")
    parser.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    args, ros_args = parser.parse_known_args(argv)
    params = args.params_file or str(config_file(f"{args.domain}.yaml"))
    use_large_frame_profile()
    rclpy.init(args=["pipeline", "--ros-args", "--params-file", params,
                     *[a for a in ros_args if a != "--ros-args"]])
    names = [n for n in NODE_CLASSES if args.sim_camera or n != "sim_camera_node"]
    nodes = [create_node(name, namespace=args.namespace) for name in names]
    try:
        if not all(start(node) for node in nodes):
            return 1
        spin_nodes(nodes, args.duration)
    finally:
        teardown(nodes)
    return 0


def _single(name: str) -> int:
    import rclpy

    from competency_cf.ros.dds_profile import use_large_frame_profile
    from competency_cf.ros.executor import teardown

    use_large_frame_profile()
    rclpy.init(args=sys.argv)
    node = create_node(name)
    try:
        if not start(node):
            return 1
        spin_nodes([node])
    finally:
        teardown([node])
    return 0


def perception_main() -> int:
    return _single("perception_node")


def counterfactual_main() -> int:
    return _single("counterfactual_node")


def explainer_main() -> int:
    return _single("explainer_node")


def sim_camera_main() -> int:
    return _single("sim_camera_node")


def main() -> int:
    return run_pipeline(sys.argv[1:])
