"""Fixtures of the ROS tests: an rclpy context per test, the nodes of a test on one executor
(taken down in the package's own order, ros/executor.py), and node processes started and
cleaned up."""

import os
import signal
import subprocess
import sys

import pytest
import rclpy
from rclpy.parameter import Parameter

from competency_cf.ros.executor import make_executor, teardown
from competency_cf.ros.pipeline import create_node, start
from waiting import DEADLINE_S, spin_until


@pytest.fixture
def context():
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    context.try_shutdown()


class Graph:
    """Nodes of one test in one context on one executor, torn down at the end whatever the
    test's outcome."""

    def __init__(self, context):
        self.context = context
        self.executor = make_executor([], context)
        self.nodes = []

    def node(self, name: str, namespace: str = "", **parameters):
        """A package node (`perception_node`, ...) in `namespace`, with parameters overridden,
        not started."""
        node = create_node(name, context=self.context, namespace=namespace, parameter_overrides=[
            Parameter(key, value=value) for key, value in parameters.items()])
        return self._add(node)

    def plain(self, name: str):
        """A plain rclpy node for the test's own publishers and subscriptions."""
        return self._add(rclpy.create_node(name, context=self.context))

    def start(self, *nodes) -> None:
        """Configure and activate, in the order given (so a camera given last starts last)."""
        for node in nodes:
            assert start(node), f"{node.get_name()} failed to start"

    def spin_until(self, condition, timeout: float = DEADLINE_S, each=None,
                   period: float = 0.05) -> bool:
        return spin_until(self.executor, condition, timeout, each, period)

    def _add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def close(self) -> None:
        teardown(self.nodes, self.executor, self.context)
        self.nodes = []


@pytest.fixture
def graph(context):
    graph = Graph(context)
    yield graph
    graph.close()


class Processes:
    """Python child processes with this environment (loopback DDS, domain id)."""

    PERCEPTION = ("-c", "from competency_cf.ros.pipeline import perception_main; "
                  "raise SystemExit(perception_main())", "--ros-args")

    def __init__(self):
        self.started = []

    def python(self, *args) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
        self.started.append(process)
        return process

    def perception(self, *parameters: str, remap: tuple[str, ...] = ()) -> subprocess.Popen:
        """The perception node alone; `parameters` as NAME:=VALUE, `remap` as FROM:=TO."""
        return self.python(*self.PERCEPTION, *[arg for p in parameters for arg in ("-p", p)],
                           *[arg for r in remap for arg in ("-r", r)])

    @staticmethod
    def interrupt(process, timeout: float = 60.0) -> str:
        """Ctrl-C, as a user would; killed when it does not end in `timeout`. Its output."""
        process.send_signal(signal.SIGINT)
        try:
            return process.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            return process.communicate()[0]


@pytest.fixture
def processes():
    started = Processes()
    yield started
    for process in started.started:
        if process.poll() is None:
            process.kill()
            process.communicate()
