"""The scheduler: where each instance of a request goes, claimed.

``Scheduler.select_destinations(spec, num_instances, num_alternates)`` asks
the candidate index for hosts that can hold the request (the filters that
can be queries are queries), runs the remaining filters and the weighers
(``pipeline.py`` is the one place the chain is written down), claims the
chosen host in the store (compare-and-set; a failed claim discards the host
and tries the next) and adds unclaimed alternates from the same cell. The
answer is typed ``Selection`` objects; "no valid host" is ``NoValidHost``
with an ``Explanation``. See docs/scheduler.md.
"""

from berth.scheduler.scheduler import Scheduler
from berth.scheduler.selection import InstanceSelections, NoValidHost, Selection, SchedulingResult
from berth.scheduler.spec import GroupPolicy, RequestSpec, SchedulingHints, ServerGroup

__all__ = [
    "GroupPolicy",
    "InstanceSelections",
    "NoValidHost",
    "RequestSpec",
    "Scheduler",
    "SchedulingHints",
    "SchedulingResult",
    "Selection",
    "ServerGroup",
]
