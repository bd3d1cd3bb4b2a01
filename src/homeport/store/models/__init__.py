"""All tables. Importing this package registers every model on ``Base.metadata``."""

from homeport.store.models import gateway as gateway
from homeport.store.models import knowledge as knowledge
from homeport.store.models import memories as memories
from homeport.store.models import rollout as rollout
from homeport.store.models.auth import ApiKey, Project
from homeport.store.models.base import Base, now
from homeport.store.models.runtime import Agent, Conversation, Item, Run, RunEvent, RunStep

__all__ = [
    "Agent",
    "ApiKey",
    "Base",
    "Conversation",
    "Item",
    "Project",
    "Run",
    "RunEvent",
    "RunStep",
    "now",
]
