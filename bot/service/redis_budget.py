"""The GitHub write budget shared through Redis (REDIS_URL set): one Lua script per
decision, atomic on the server, over a sorted set of reserved slots per identity.

The script is `bot.core.write_budget.decide` again, in Lua, on Redis's own clock (TIME),
so processes on several hosts agree on the windows whatever their clocks say. Keys expire
an hour after the identity's last write. Nothing in Redis is durable state: losing it
forgets at most the last hour's slots, as a restart of a single process would.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.core.write_budget import BudgetLimits, Decision, Priority
from bot.github.budget import LocalPauses

log = logging.getLogger("devin_bridge.budget")
UNREACHABLE_RETRY_S = 5.0

# KEYS: slots (zset), state (hash: last, paused, seq)
# ARGV: spacing, cap per minute, cap per hour, minute window, hour window, max wait
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local spacing = tonumber(ARGV[1])
local caps = {tonumber(ARGV[2]), tonumber(ARGV[3])}
local windows = {tonumber(ARGV[4]), tonumber(ARGV[5])}
local max_wait = tonumber(ARGV[6])
local paused = tonumber(redis.call('HGET', KEYS[2], 'paused') or '0')
if paused > now then
  return {0, tostring(paused - now), 1}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - windows[2])
local last = redis.call('HGET', KEYS[2], 'last')
local slot = now
if last then slot = math.max(now, tonumber(last) + spacing) end
for i = 1, 2 do
  local lo = '(' .. tostring(slot - windows[i])
  local inside = redis.call('ZCOUNT', KEYS[1], lo, '+inf')
  if inside >= caps[i] then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], lo, '+inf', 'WITHSCORES',
                              'LIMIT', inside - caps[i], 1)
    local free_at = tonumber(oldest[2]) + windows[i]
    return {0, tostring(math.max(free_at - now, 0.01)), 0}
  end
end
if slot - now > max_wait then
  return {0, tostring(slot - now), 0}
end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('ZADD', KEYS[1], slot, tostring(slot) .. ':' .. seq)
redis.call('HSET', KEYS[2], 'last', tostring(slot))
local keep = math.ceil(windows[2] + 60)
redis.call('EXPIRE', KEYS[1], keep)
redis.call('EXPIRE', KEYS[2], keep)
return {1, tostring(slot - now), 0}
"""

# KEYS: state; ARGV: seconds
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local untl = now + tonumber(ARGV[1])
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or '0')
if untl > paused then redis.call('HSET', KEYS[1], 'paused', tostring(untl)) end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) + 3660))
return 1
"""


class RedisWriteBudget:
    """`WriteBudget` in Redis; `namespace` keeps deployments sharing a Redis apart."""

    def __init__(self, connection: Any, namespace: str, limits: BudgetLimits) -> None:
        self.limits = limits
        self._redis = connection
        self._namespace = namespace
        self._acquire = connection.register_script(_ACQUIRE)
        self._pause = connection.register_script(_PAUSE)
        self._pauses = LocalPauses()

    def __repr__(self) -> str:
        return f"RedisWriteBudget({self._namespace!r}, {self.limits!r})"

    def _keys(self, identity: str) -> list[str]:
        base = f"{self._namespace}:github-writes:{identity}"
        return [f"{base}:slots", f"{base}:state"]

    def acquire(self, identity: str, priority: Priority, *, max_wait: float) -> Decision:
        cap_minute, cap_hour = self.limits.caps(priority)
        minute, hour = self.limits.windows
        try:
            granted, wait, paused = self._acquire(
                keys=self._keys(identity),
                args=[self.limits.spacing, cap_minute, cap_hour, minute, hour, max_wait],
            )
        except Exception as err:  # Redis is away: write nothing rather than too much
            log.warning("the GitHub write budget is unreachable (%s)", type(err).__name__)
            return Decision(False, UNREACHABLE_RETRY_S)
        decision = Decision(bool(int(granted)), float(wait), paused=bool(int(paused)))
        if decision.paused:
            self._pauses.note(identity, decision.wait)
        return decision

    def pause(self, identity: str, seconds: float) -> None:
        self._pauses.note(identity, seconds)
        try:
            self._pause(keys=self._keys(identity)[1:], args=[max(seconds, 0.0)])
        except Exception as err:  # this process still holds back (LocalPauses)
            log.warning("could not share a GitHub pause (%s)", type(err).__name__)

    def paused_for(self, identity: str) -> float:
        return self._pauses.left(identity)
