"""Real-time state: connections, presence, typing, rate limits and activity.

One interface (`RealtimeState`), two implementations: `MemoryState` for a single process
and `RedisState` for several. Both pass `tests/test_state_contract.py`.
"""

from app.state.base import AddConnectionResult, ConnectionInfo, RateDecision, RealtimeState
from app.state.memory import MemoryState

__all__ = [
    "AddConnectionResult",
    "ConnectionInfo",
    "MemoryState",
    "RateDecision",
    "RealtimeState",
]
