import threading
import time

from competency_cf.ros.thread_cpu import name_this_thread, process_cpu_seconds, thread_cpu_seconds
from waiting import wait_for


def test_a_named_busy_thread_is_counted_under_its_name_and_in_the_process():
    done, named = threading.Event(), threading.Event()
    before = process_cpu_seconds()

    def busy():
        name_this_thread("busy_worker")
        named.set()
        end = time.process_time() + 0.3  # CPU time, not wall time: the test's own clock
        while time.process_time() < end and not done.is_set():
            pass

    thread = threading.Thread(target=busy)
    thread.start()
    named.wait()
    while thread_cpu_seconds().get("busy_worker", 0.0) < 0.05 and thread.is_alive():
        time.sleep(0.01)
    assert thread_cpu_seconds().get("busy_worker", 0.0) >= 0.05 or not thread.is_alive()
    thread.join()
    # An ended thread leaves /proc (soon after it is joined), but not the process's total.
    assert wait_for(lambda: "busy_worker" not in thread_cpu_seconds())
    assert process_cpu_seconds() - before >= 0.05
