"""When a stream of competency values should trigger a counterfactual and an explanation.

A trigger fires on a falling edge below the threshold. It re-arms only once competency has risen
back above threshold + hysteresis (so a value hovering at the threshold does not fire again and
again), and never fires twice within `cooldown_s`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LowCompetencyTrigger:
    threshold: float = 0.9
    hysteresis: float = 0.02
    cooldown_s: float = 2.0
    armed: bool = field(default=True, init=False)
    last_fired: float | None = field(default=None, init=False)
    fired: int = field(default=0, init=False)
    suppressed: int = field(default=0, init=False)  # edges inside the cooldown

    def __post_init__(self):
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.hysteresis < 0.0 or self.cooldown_s < 0.0:
            raise ValueError("hysteresis and cooldown_s must not be negative")

    def update(self, competency: float, time_s: float) -> bool:
        """Feed one value (with its frame time); True when this frame triggers."""
        if competency >= self.threshold + self.hysteresis:
            self.armed = True
            return False
        if competency >= self.threshold or not self.armed:
            return False
        self.armed = False
        if self.last_fired is not None and time_s - self.last_fired < self.cooldown_s:
            self.suppressed += 1
            return False
        self.last_fired = time_s
        self.fired += 1
        return True
