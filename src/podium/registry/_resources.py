"""What one call of a model needs from the process that runs it, and how many may run at once."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Resources(BaseModel):
    """A manifest's ``resources``: held by each call of the model while it runs.

    ``cpus``, ``gpus`` and ``memory_mb`` are taken from the executor's capacity (a worker's
    ``--cpus/--gpus/--memory-mb``, else the machine's) and given back when the call ends: a
    call starts only when they are free. ``max_concurrency`` bounds the model's calls in
    flight in the process, whatever run they serve. Waiting calls are admitted round-robin
    between runs, so one run's large map cannot starve the others.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpus: float = Field(default=0.0, ge=0, le=4096)
    gpus: float = Field(default=0.0, ge=0, le=1024)
    memory_mb: float = Field(default=0.0, ge=0, le=2**40)
    max_concurrency: int | None = Field(default=None, ge=1, le=1_000_000)

    @property
    def needs(self) -> tuple[float, float, float]:
        """(cpus, gpus, memory_mb) one call holds."""
        return (self.cpus, self.gpus, self.memory_mb)
