"""RQ after a Redis flush: no traceback in the worker's log, lost work sent again at once.

Uses Redis database 11 (its own, flushed here). Skipped without Redis locally; fails
under CI=true.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.deliveries import deliver, service_env, wait_for
from tests.support.service_proc import start_serve, start_worker, stop_all
from tests.support.stack import Stack, running_stack

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("DEVIN_BRIDGE_TEST_REDIS_FLUSH", "redis://127.0.0.1:6379/11")
SLOW = {
    "name": "slow-for-flush",
    "steps": [
        {"after_polls": 1, "status": "running", "status_detail": "working"},
        {"after_polls": 6, "message": "Half way", "acus": 0.5},
        {"after_polls": 6, "message": "Done", "status_detail": "finished", "acus": 1.0},
    ],
}


def flush_redis_now() -> str:
    """An RQ message whose work outlives Redis's data (as a FLUSHDB mid-tick would)."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    return "flushed"


@pytest.fixture
def redis_db() -> Iterator[str]:
    parts = urlsplit(REDIS_URL)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1).close()
    except OSError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is not reachable at {REDIS_URL}", pytrace=False)
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    yield REDIS_URL
    redis.Redis.from_url(REDIS_URL).flushdb()


WORKER_SCRIPT = """
import logging, sys
from rq import SimpleWorker
from bot.service.rq_queue import RESULT_TTL, RQQueue
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
queue = RQQueue(sys.argv[1], "devin-bridge:flush-test")
for _ in range(2):  # enqueued with the bridge's own settings for its messages
    queue.ticks.enqueue(
        "tests.service.test_rq_flush.flush_redis_now", result_ttl=RESULT_TTL, failure_ttl=60
    )
SimpleWorker([queue.ticks], connection=queue.connection).work(
    burst=True, logging_level="WARNING"
)
print("worked")
"""


def test_a_message_that_outlives_a_flush_logs_no_traceback(redis_db: str) -> None:
    # In its own process: an RQ worker installs signal handlers.
    env = {**os.environ, "DEVIN_BRIDGE_TEST_REDIS_FLUSH": redis_db}
    done = subprocess.run(
        [sys.executable, "-c", WORKER_SCRIPT, redis_db],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "worked" in done.stdout, done.stderr
    assert "InvalidJobOperation" not in done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_work_lost_in_a_flush_is_dispatched_again_within_seconds(
    redis_db: str, tmp_path: Path
) -> None:
    with running_stack() as stack:
        stack.emulator.register_scenario(SLOW)
        stack.use_scenario("slow-for-flush")
        stack.allow("alice")
        database = f"sqlite:///{tmp_path / 'state.db'}"
        env = service_env(stack, database, REDIS_URL=redis_db)
        serve = start_serve(env, tmp_path, workers=1, wait=False)
        worker = start_worker(env, tmp_path, wait=False)
        try:
            serve.wait_healthy()
            worker.wait_healthy()
            number = 41
            stack.github.add_issue(stack.repo, number, title="Flush me")
            comment = stack.github.add_comment(stack.repo, number, "/devin work", user="alice")
            assert deliver(serve.url, "issue_comment", stack.comment_payload(comment)).ok
            wait_for(lambda: _says(stack, number, "Devin is working"), "working", 30)
            import redis

            redis.Redis.from_url(redis_db).flushdb()  # the queued tick messages are gone
            flushed_at = time.time()
            wait_for(lambda: "Redis lost its queues" in worker.log(), "the flush noticed", 10)
            # Without the re-dispatch the session would sit out the 30 s dispatch window.
            wait_for(lambda: _says(stack, number, "Devin finished"), "finished after flush", 20)
            recovered_in = time.time() - flushed_at
        finally:
            stop_all([serve, worker])
        logs = serve.log() + worker.log()
        assert "Traceback" not in logs and "InvalidJobOperation" not in logs
        assert recovered_in < 25


def _says(stack: Stack, number: int, words: str) -> bool:
    comments = stack.bot_comments(number)
    return bool(comments) and words in comments[-1]["body"]
