"""Re-export: the trigger is plain Python in `competency_cf.competency.trigger`, shared by the
perception node and the offline replay (`competency-cf replay`)."""

from competency_cf.competency.trigger import LowCompetencyTrigger

__all__ = ["LowCompetencyTrigger"]
