"""The lifecycle bookkeeping and the diagnostics every node shares.

What `on_activate` creates (subscriptions, timers, workers: put them in `self.inputs`) goes
on deactivate and shutdown; publishers made with `lifecycle_publisher` go on cleanup, together
with whatever `release` drops (models, backends).

Every node reports its `health` (ros/diagnostics.py) on /diagnostics once a second in every
state, so a node whose models failed to load says so with ERROR instead of going quiet.
"""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import QoSProfile
from rclpy.timer import Timer

from competency_cf.ros.diagnostics import Health
from competency_cf.ros.worker import Worker


def topic(prefix: str, name: str) -> str:
    """`name` under `prefix` (a camera's name), or `name` itself for an unnamed camera; relative
    either way, so namespaces and remapping apply."""
    return f"{prefix}/{name}" if prefix else name


class ManagedNode(LifecycleNode):
    def __init__(self, name: str, **kwargs):
        super().__init__(name, **kwargs)
        self.inputs: list = []  # subscriptions, timers and workers of the active state
        self._lifecycle_publishers: list = []
        self.health = Health()
        self.state_label = "unconfigured"
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics",
                                                      QoSProfile(depth=10))
        self._diagnostics_timer = self.create_timer(1.0, self.publish_diagnostics)

    # -- diagnostics --------------------------------------------------------------------------
    def diagnostic_values(self) -> dict[str, str]:
        """Node-specific values added to the health's rates and totals."""
        return {}

    def diagnostic_status(self) -> DiagnosticStatus:
        level, message = self.health.level()
        values = {"state": self.state_label, **self.health.values(), **self.diagnostic_values()}
        return DiagnosticStatus(level=bytes([level]), name=self.get_fully_qualified_name(),
                                message=message, hardware_id=str(getattr(self, "models", "")),
                                values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])

    def publish_diagnostics(self) -> None:
        array = DiagnosticArray(status=[self.diagnostic_status()])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)

    def configure_failed(self, error: Exception) -> TransitionCallbackReturn:
        """Log why configure failed and report it as ERROR until a configure succeeds."""
        self.get_logger().error(f"configure failed: {error}")
        self.health.fatal = f"configure failed: {error}"
        return TransitionCallbackReturn.FAILURE

    def on_configure(self, state) -> TransitionCallbackReturn:
        self.health.fatal = None
        self.state_label = "inactive"
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        self.state_label = "active"
        return super().on_activate(state)

    def lifecycle_publisher(self, kind, topic: str, qos):
        publisher = self.create_lifecycle_publisher(kind, topic, qos)
        self._lifecycle_publishers.append(publisher)
        return publisher

    def release(self) -> None:
        """Drop what configure loaded; called on cleanup."""

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.release_inputs()
        self.state_label = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self.release_inputs()
        for publisher in self._lifecycle_publishers:
            self.destroy_publisher(publisher)
        self._lifecycle_publishers = []
        self.release()
        self.state_label = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self.release_inputs()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        # A worker thread still publishing on a destroyed node would crash the process.
        self.release_inputs()
        super().destroy_node()

    def release_inputs(self) -> None:
        """Stop the workers (each finishes its step) and destroy the timers and subscriptions
        of the active state; also the first step of taking a graph down (ros/executor.py)."""
        self.health.unwatch()
        for entity in self.inputs:
            if isinstance(entity, Worker):
                entity.stop()
            elif isinstance(entity, Timer):
                self.destroy_timer(entity)
            else:
                self.destroy_subscription(entity)
        self.inputs = []
