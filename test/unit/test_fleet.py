"""The fleet runner in this process: results in item order, a failing item's error row, and
clear errors where Ray is missing or no cluster answers (local processes and a Ray cluster:
test/ros/test_fleet.py)."""

import math
import socket
import sys

import pytest

from competency_cf.cli import main
from competency_cf.evaluation.fleet import check_reachable, host_port, run_fleet


def labelled_error(item, message):
    return {"item": item, "error": message}


def test_results_in_item_order_and_a_failing_item_is_an_error_row():
    rows = run_fleet(math.sqrt, [9, -1, 4, 16], error_row=labelled_error)
    assert rows[0] == 3.0 and rows[2:] == [2.0, 4.0]
    assert rows[1] == {"item": -1, "error": "ValueError: math domain error"}
    assert run_fleet(math.sqrt, [-4])[0] == {"error": "ValueError: math domain error"}


def test_missing_ray_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(RuntimeError, match=r"pip install competency_cf\[fleet\]"):
        run_fleet(math.sqrt, [1, 4], ray_address="127.0.0.1:6379")
    assert main(["report", str(tmp_path / "bag"), "--ray", "127.0.0.1:6379", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "pip install competency_cf[fleet]" in error and "pip install ray" in error


def test_no_cluster_at_the_address_fails_at_once():
    with socket.socket() as probe:  # a port where nothing listens once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RuntimeError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}")
    check_reachable("auto")  # left to Ray: no host:port to try


def test_ray_addresses():
    assert host_port("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert host_port("ray://head:10001") == ("head", 10001)
    assert host_port("[::1]:6379") == ("::1", 6379)
    assert host_port("auto") is None and host_port("head:") is None
