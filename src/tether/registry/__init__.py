"""The registry: the systems and actors tether governs (versions, gates and aliases
come with the model lifecycle)."""

from __future__ import annotations

from tether.registry._inventory import Actor, Actors, System, Systems

__all__ = ["Actor", "Actors", "System", "Systems"]
