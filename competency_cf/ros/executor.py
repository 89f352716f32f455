"""The executor a graph spins on, and the order to take a graph down in.

The graph spins on rclpy's events executor (C++, one thread) by default: every heavy step runs on
the nodes' own worker threads, so the executor only hands frames over, and at 60 Hz 1280x720 it
took 0.40-0.44 cores where the multi-threaded executor took 0.61-0.66 (camera and subscriber in
one process, in alternating runs). `kind="multi"` gives the multi-threaded one, whose
shutdown needs the care below.

rclpy's `Executor.shutdown()` destroys the executor's guard condition at once: its wait for
running callbacks never happens (rclpy 9.1 tests `_is_shutdown` right after setting it), and
callbacks that `spin_once` already handed to the MultiThreadedExecutor's thread pool are not
counted at all. The pool runs those while it shuts down, and rclpy's handler fails at
`gc.trigger()` on the destroyed guard condition with InvalidHandle ("cannot use Destroyable
because destruction was requested"), before the node's callback runs. No `spin_once` follows to
read that task's result, so rclpy prints "The following exception was never retrieved" when the
task is garbage-collected.
"""

from __future__ import annotations

import rclpy
from rclpy.executors import MultiThreadedExecutor

from competency_cf.ros.managed_node import ManagedNode


class GraphExecutor(MultiThreadedExecutor):
    """A MultiThreadedExecutor whose `shutdown` first lets the callbacks already handed to its
    thread pool finish, while the guard condition they trigger still exists. Call it from the
    thread that spun, once spinning stopped."""

    def shutdown(self, timeout_sec: float | None = None, *, wait_for_threads: bool = True) -> bool:
        self._executor.shutdown(wait=True)  # rclpy's ThreadPoolExecutor: run what is queued
        return super().shutdown(timeout_sec, wait_for_threads=wait_for_threads)


def make_executor(nodes, context=None, num_threads: int = 4, kind: str = "events"):
    if kind == "events":
        from rclpy.experimental import EventsExecutor

        executor = EventsExecutor(context=context)
    else:
        executor = GraphExecutor(num_threads=num_threads, context=context)
    for node in nodes:
        executor.add_node(node)
    return executor


def stop_spinning(executor, nodes) -> None:
    """Stop the nodes' workers, timers and subscriptions (no new callbacks, no thread still
    publishing), then shut the executor down after the callbacks it handed out."""
    for node in nodes:
        if isinstance(node, ManagedNode):
            node.release_inputs()
    if executor is not None:
        executor.shutdown()


def teardown(nodes, executor=None, context=None) -> None:
    """Take a graph down so that nothing uses what is already gone: inputs and workers stop, the
    executor shuts down (`executor` None: spinning already ended, as after `spin_nodes`), the
    nodes are destroyed, and only then the context shuts down (the default one when None).
    The nodes are destroyed here rather than by the context's shutdown, which skips every
    other node (rclpy 9.1 removes each destroyed node from the list it is iterating)."""
    stop_spinning(executor, nodes)
    for node in nodes:
        node.destroy_node()
    rclpy.try_shutdown(context=context)
