"""The lifecycle bookkeeping every node shares.

What `on_activate` creates (subscriptions, timers, workers: put them in `self.inputs`) goes
on deactivate and shutdown; publishers made with `lifecycle_publisher` go on cleanup, together
with whatever `release` drops (models, backends).
"""

from __future__ import annotations

from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.timer import Timer

from competency_cf.ros.worker import Worker


class ManagedNode(LifecycleNode):
    def __init__(self, name: str, **kwargs):
        super().__init__(name, **kwargs)
        self.inputs: list = []  # subscriptions, timers and workers of the active state
        self._lifecycle_publishers: list = []

    def lifecycle_publisher(self, kind, topic: str, qos):
        publisher = self.create_lifecycle_publisher(kind, topic, qos)
        self._lifecycle_publishers.append(publisher)
        return publisher

    def release(self) -> None:
        """Drop what configure loaded; called on cleanup."""

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.release_inputs()
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self.release_inputs()
        for publisher in self._lifecycle_publishers:
            self.destroy_publisher(publisher)
        self._lifecycle_publishers = []
        self.release()
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
        for entity in self.inputs:
            if isinstance(entity, Worker):
                entity.stop()
            elif isinstance(entity, Timer):
                self.destroy_timer(entity)
            else:
                self.destroy_subscription(entity)
        self.inputs = []
