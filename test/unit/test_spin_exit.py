"""`spin_nodes` ends cleanly when Ctrl-C shuts the context down mid-spin (no ROS graph needed)."""

import pytest
import rclpy

from competency_cf.ros import executor as executor_module
from competency_cf.ros.pipeline import spin_nodes


class _Executor:
    """Stands in for the graph executor: its first spin_once finds the context shut down."""

    def __init__(self, context_state):
        self.context_state, self.spins, self.shut_down = context_state, 0, False

    def spin_once(self, timeout_sec):
        self.spins += 1
        self.context_state["ok"] = self.context_state["ok_after_error"]
        raise RuntimeError("failed to initialize wait set: the given context is not valid")

    def shutdown(self):
        self.shut_down = True


def _spin(monkeypatch, ok_after_error):
    state = {"ok": True, "ok_after_error": ok_after_error}
    fake = _Executor(state)
    monkeypatch.setattr(rclpy, "ok", lambda: state["ok"])
    monkeypatch.setattr(executor_module, "make_executor", lambda nodes: fake)
    return fake


def test_a_context_shut_down_between_check_and_wait_is_a_normal_exit(monkeypatch):
    fake = _spin(monkeypatch, ok_after_error=False)
    spin_nodes([])
    assert fake.spins == 1 and fake.shut_down


def test_the_same_error_with_the_context_alive_is_raised(monkeypatch):
    fake = _spin(monkeypatch, ok_after_error=True)
    with pytest.raises(RuntimeError, match="wait set"):
        spin_nodes([])
    assert fake.shut_down  # the executor is still shut down on the way out
