"""Workers: processes that drive submitted runs from a shared database.

``orch.submit(...)`` (or ``podium run --detach``) stores a run ``pending`` in a queue;
``podium worker`` processes, on any host, claim and drive such runs with leases and
heartbeats, and take over the runs of a worker that died.
"""

from podium.worker._follow import follow
from podium.worker._presence import live_workers, model_use, use_of
from podium.worker._worker import Worker, WorkerConfig, WorkerStats

__all__ = ["Worker", "WorkerConfig", "WorkerStats", "follow", "live_workers", "model_use", "use_of"]
