import threading

import pytest

from competency_cf.ros.latest import LatestSlot
from competency_cf.ros.trigger import LowCompetencyTrigger


def test_falling_edge_hysteresis_and_cooldown():
    trigger = LowCompetencyTrigger(threshold=0.9, hysteresis=0.05, cooldown_s=2.0)
    values = [(0.99, 0.0), (0.80, 0.1), (0.85, 0.2), (0.91, 0.3), (0.85, 0.4),   # no re-arm
              (0.97, 0.5), (0.70, 0.6),                                          # in cooldown
              (0.97, 2.5), (0.60, 2.6), (0.50, 2.7)]                             # fires again
    fired = [trigger.update(c, t) for c, t in values]
    assert fired == [False, True, False, False, False, False, False, False, True, False]
    assert trigger.fired == 2 and trigger.suppressed == 1


def test_trigger_validates_settings():
    with pytest.raises(ValueError):
        LowCompetencyTrigger(threshold=1.5)
    with pytest.raises(ValueError):
        LowCompetencyTrigger(cooldown_s=-1.0)


def test_latest_slot_keeps_newest_and_counts_drops():
    slot = LatestSlot()
    assert slot.take() is None
    for item in range(5):
        slot.put(item)
    assert slot.waiting() and slot.take() == 4 and slot.take() is None
    assert slot.received == 5 and slot.dropped == 4
    threads = [threading.Thread(target=lambda: [slot.put(i) for i in range(1000)])
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The slot was empty before the threads: every put but the first replaced an unread item.
    assert slot.received == 4005 and slot.dropped == 4 + 3999
