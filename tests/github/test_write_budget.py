"""The GitHub write budget: the sliding-log rule, and the same behaviour from each place
the budget can live (memory, an SQLite file shared by two stores, Postgres, Redis)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator

import pytest

from bot.core.write_budget import (
    BudgetLimits,
    Priority,
    installation_identity,
    limits_from_env,
    token_identity,
)
from bot.github.budget import MemoryBudget, WriteBudget
from bot.store.facade import Store
from bot.store.write_budget import StoreWriteBudget


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _most_within(slots: list[float], window: float) -> int:
    best = 0
    for i, start in enumerate(slots):
        best = max(best, sum(1 for t in slots[i:] if t < start + window))
    return best


def test_no_window_ever_holds_more_than_the_limit() -> None:
    """Random demand over three hours at every priority: whatever 60 s or hour one
    looks at, GitHub's limits hold (a fixed window would let 2x through at its edge)."""
    clock = Clock()
    budget = MemoryBudget(BudgetLimits(per_minute=80, per_hour=500, spacing=0.0), clock)
    rng = random.Random(8)
    granted: list[float] = []
    start = clock.now
    while clock.now < start + 3 * 3600:
        clock.now += rng.expovariate(1 / 0.3)  # ~200 writes wanted a minute
        decision = budget.acquire("installation:1", rng.choice(list(Priority)), max_wait=0.0)
        if decision.granted:
            granted.append(clock.now + decision.wait)
    assert _most_within(granted, 60.0) <= 80
    assert _most_within(sorted(granted), 3600.0) <= 500
    assert len(granted) >= 3 * 480  # and the budget is used, not wasted


def test_a_burst_at_a_minute_boundary_is_not_doubled() -> None:
    clock = Clock()
    budget = MemoryBudget(BudgetLimits(per_minute=10, per_hour=500, spacing=0.0), clock)
    clock.now += 59.9
    assert all(budget.acquire("i", Priority.FINAL, max_wait=0).granted for _ in range(10))
    clock.now += 0.2  # a new "minute" for a fixed window
    refused = budget.acquire("i", Priority.FINAL, max_wait=0)
    assert not refused.granted and 61.0 < refused.wait <= 62.0
    clock.now += refused.wait
    assert budget.acquire("i", Priority.FINAL, max_wait=0).granted


def test_spacing_reserves_the_next_slot_or_defers() -> None:
    clock = Clock()
    budget = MemoryBudget(BudgetLimits(spacing=1.0), clock)
    assert budget.acquire("i", Priority.NORMAL, max_wait=3).wait == 0.0
    second = budget.acquire("i", Priority.NORMAL, max_wait=3)
    assert second.granted and second.wait == pytest.approx(1.0)
    hurried = budget.acquire("i", Priority.PROGRESS, max_wait=0)
    assert not hurried.granted and hurried.wait == pytest.approx(2.0)
    assert budget.acquire("other", Priority.PROGRESS, max_wait=0).wait == 0.0


def test_identities_never_contain_the_token() -> None:
    token = "ghp_" + "s3cr3t" * 6
    name = token_identity(token)
    assert token not in name and "s3cr3t" not in name
    assert name == token_identity(token + " ") and name != token_identity(token + "x")
    assert installation_identity(42) == "installation:42"


def test_limits_from_the_environment() -> None:
    limits = limits_from_env(
        {
            "DEVIN_BRIDGE_GITHUB_WRITES_PER_MINUTE": "30",
            "DEVIN_BRIDGE_GITHUB_WRITES_PER_HOUR": "200",
            "DEVIN_BRIDGE_GITHUB_WRITE_SPACING": "0.5",
        }
    )
    assert (limits.per_minute, limits.per_hour, limits.spacing) == (30, 200, 0.5)
    assert limits_from_env({}) == BudgetLimits()
    for name, value in (
        ("DEVIN_BRIDGE_GITHUB_WRITES_PER_MINUTE", "0"),
        ("DEVIN_BRIDGE_GITHUB_WRITES_PER_HOUR", "lots"),
        ("DEVIN_BRIDGE_GITHUB_WRITE_SPACING", "-1"),
    ):
        with pytest.raises(ValueError, match=name):
            limits_from_env({name: value})


# --- the same behaviour wherever the budget lives -----------------------------------------

LIMITS = BudgetLimits(per_minute=5, per_hour=7, spacing=0.0)
# caps: progress 4/min 6/h, normal 4/min 6/h, final 5/min 7/h


def _memory(_: pytest.TempPathFactory) -> Iterator[Callable[[], WriteBudget]]:
    shared = MemoryBudget(LIMITS)
    yield lambda: shared


def _sqlite(tmp: pytest.TempPathFactory) -> Iterator[Callable[[], WriteBudget]]:
    url = f"sqlite:///{tmp.mktemp('budget')}/state.db"
    Store(url).migrate()
    stores: list[Store] = []

    def another() -> WriteBudget:  # a store of its own, as another process has
        stores.append(Store(url))
        return StoreWriteBudget(stores[-1], LIMITS)

    yield another
    for store in stores:
        store.dispose()


def _postgres(tmp: pytest.TempPathFactory) -> Iterator[Callable[[], WriteBudget]]:
    from tests.service.test_scale_out import POSTGRES_URL, _require_services

    _require_services()
    import sqlalchemy as sa

    schema = f"devin_bridge_budget_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    Store(url).migrate()
    stores: list[Store] = []

    def another() -> WriteBudget:
        stores.append(Store(url))
        return StoreWriteBudget(stores[-1], LIMITS)

    try:
        yield another
    finally:
        for store in stores:
            store.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _redis(_: pytest.TempPathFactory) -> Iterator[Callable[[], WriteBudget]]:
    from tests.service.test_scale_out import REDIS_URL, _require_services

    _require_services()
    import redis

    from bot.service.redis_budget import RedisWriteBudget

    namespace = f"devin-bridge-test:{uuid.uuid4().hex[:10]}"
    conns: list[redis.Redis] = []

    def another() -> WriteBudget:
        conns.append(redis.Redis.from_url(REDIS_URL))
        return RedisWriteBudget(conns[-1], namespace, LIMITS)

    yield another
    for key in conns[0].scan_iter(f"{namespace}*") if conns else ():
        conns[0].delete(key)


BACKENDS = {
    "memory": _memory,
    "sqlite": _sqlite,
    "postgres": pytest.param(_postgres, marks=pytest.mark.scale),
    "redis": pytest.param(_redis, marks=pytest.mark.scale),
}


@pytest.fixture(params=list(BACKENDS.values()), ids=list(BACKENDS))
def budgets(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], WriteBudget]]:
    yield from request.param(tmp_path_factory)


def test_shared_budget_keeps_room_for_final_states(budgets: Callable[[], WriteBudget]) -> None:
    one, two = budgets(), budgets()  # two processes sharing one identity
    ident = f"installation:{uuid.uuid4().int % 10**6}"
    assert one.acquire(ident, Priority.PROGRESS, max_wait=0).granted
    assert two.acquire(ident, Priority.PROGRESS, max_wait=0).granted
    assert one.acquire(ident, Priority.NORMAL, max_wait=0).granted
    assert two.acquire(ident, Priority.PROGRESS, max_wait=0).granted
    progress = one.acquire(ident, Priority.PROGRESS, max_wait=0)
    assert not progress.granted and 55 < progress.wait <= 62
    assert not two.acquire(ident, Priority.NORMAL, max_wait=0).granted
    assert two.acquire(ident, Priority.FINAL, max_wait=0).granted  # the reserve
    final = one.acquire(ident, Priority.FINAL, max_wait=0)
    assert not final.granted and not final.paused
    assert one.acquire("installation:other", Priority.PROGRESS, max_wait=0).granted


def test_a_pause_holds_back_every_process(budgets: Callable[[], WriteBudget]) -> None:
    one, two = budgets(), budgets()
    ident = f"token:{uuid.uuid4().hex}"
    one.pause(ident, 30.0)
    assert 29 <= one.paused_for(ident) <= 30
    held = two.acquire(ident, Priority.FINAL, max_wait=10)
    assert not held.granted and held.paused and 29 <= held.wait <= 30
    assert 29 <= two.paused_for(ident) <= 30  # now known locally: reads hold back too
    assert two.acquire("token:someone-else", Priority.FINAL, max_wait=0).granted
