import pytest

from competency_cf.ros.fair_queue import FairQueue


def test_one_entry_per_key_oldest_first_bounded_per_lane():
    queue = FairQueue(capacity=2)
    queue.put("cam", "a", "fast a")
    queue.put("cam", "b", "fast b")
    queue.put("cam", "a", "refined a")   # replaces, keeps its place
    assert queue.replaced == 1 and len(queue) == 2
    queue.put("cam", "c", "fast c")      # full: the lane's oldest entry is dropped
    assert queue.dropped == {"cam": 1}
    assert queue.take() == ("cam", "b", "fast b")
    assert queue.take() == ("cam", "c", "fast c")
    assert queue.take() is None
    with pytest.raises(ValueError):
        FairQueue(0)


def test_a_busy_camera_does_not_starve_the_others():
    queue = FairQueue(capacity=100)
    for stamp in range(50):
        queue.put("busy", stamp, f"busy {stamp}")
    queue.put("quiet", 0, "quiet 0")
    queue.put("other", 0, "other 0")
    served = [queue.take()[0] for _ in range(6)]
    assert served[:3] == ["busy", "quiet", "other"]
    assert served[3:] == ["busy", "busy", "busy"]  # the others are empty now
    assert queue.dropped == {}


def test_capacity_one_keeps_the_newest_per_camera_and_counts_drops_per_camera():
    queue = FairQueue(capacity=1)
    for stamp in range(3):
        queue.put("left", stamp, stamp)
    queue.put("right", 0, 0)
    assert queue.dropped == {"left": 2}
    assert sorted([queue.take()[:2], queue.take()[:2]]) == [("left", 2), ("right", 0)]
