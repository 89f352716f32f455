import pytest

from competency_cf.ros.pair_queue import PairQueue


def test_one_entry_per_trigger_oldest_first_bounded():
    queue = PairQueue(capacity=2)
    queue.put("a", "fast a")
    queue.put("b", "fast b")
    queue.put("a", "refined a")          # replaces, keeps its place
    assert queue.replaced == 1 and len(queue) == 2
    queue.put("c", "fast c")             # full: the oldest trigger is dropped
    assert queue.dropped == 1
    assert queue.take() == ("b", "fast b")
    assert queue.take() == ("c", "fast c")
    assert queue.take() is None
    with pytest.raises(ValueError):
        PairQueue(0)
