"""The worker thread: steps on notification, keeps going after errors, stops cleanly."""

import threading
import time

from competency_cf.ros.worker import Worker
from waiting import wait_for


def test_notify_drains_everything_waiting_then_sleeps():
    items, done = [1, 2, 3], []
    lock = threading.Lock()

    def step():
        with lock:
            if not items:
                return False
            done.append(items.pop(0))
            return True

    worker = Worker(step, on_error=lambda error: None, idle_s=60.0).start()
    worker.notify()
    assert wait_for(lambda: done == [1, 2, 3])
    with lock:
        items.append(4)
    worker.notify()
    assert wait_for(lambda: done == [1, 2, 3, 4])
    worker.stop()
    assert not worker.alive


def test_without_a_notification_nothing_runs():
    calls = []
    worker = Worker(lambda: calls.append(1) and False, on_error=lambda error: None,
                    idle_s=3600.0).start()
    time.sleep(0.2)  # however slow the machine, an idle wake is an hour away
    assert calls == []  # no polling between notifications
    worker.notify()
    assert wait_for(lambda: calls == [1])
    worker.stop()


def test_the_idle_wake_retries_input_declined_earlier():
    calls = []
    worker = Worker(lambda: calls.append(1) and False, on_error=lambda error: None,
                    idle_s=0.01).start()
    assert wait_for(lambda: len(calls) >= 3)  # three wakes, none of them notified
    worker.stop()


def test_a_raising_step_is_reported_and_the_worker_goes_on():
    outcomes, errors = [ValueError("bad frame"), True, False], []

    def step():
        outcome = outcomes.pop(0) if outcomes else False
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    worker = Worker(step, on_error=errors.append, idle_s=60.0).start()
    worker.notify()
    assert wait_for(lambda: not outcomes)
    assert [str(error) for error in errors] == ["bad frame"] and worker.alive
    worker.stop()


def test_stop_waits_for_the_current_step():
    started, finished = threading.Event(), threading.Event()

    def step():
        started.set()
        time.sleep(0.2)
        finished.set()
        return False

    worker = Worker(step, on_error=lambda error: None, idle_s=60.0).start()
    worker.notify()
    assert started.wait(120.0)
    worker.stop()
    assert finished.is_set() and not worker.alive
