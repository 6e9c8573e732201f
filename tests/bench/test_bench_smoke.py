"""`carepath bench` figures a, b, d, e, g and i still run: each at its smoke size, against the real PostgreSQL and Redis.

The numbers at these sizes mean nothing; the tests check that every figure comes back measured, with a baseline and a
ratio, so a refactor that breaks a figure is found here rather than in the next full run.
"""

from __future__ import annotations

import os

import pytest
import redis

from bench.core import REGISTRY, BenchContext
from bench.runner import table

REDIS_URL = os.environ.get("CAREPATH_TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture(scope="module")
def redis_server_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}", pytrace=False)
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.mark.parametrize("key", ["a", "b", "d", "e", "g", "i"])
def test_figure_runs_at_smoke_size(key: str, postgres_server_url: str, redis_server_url: str, tmp_path) -> None:
    import bench.figures  # noqa: F401  (registers the figures)

    ctx = BenchContext(quick=True, postgres_server_url=postgres_server_url, redis_url=redis_server_url,
                       workdir=tmp_path, smoke=True)
    result = REGISTRY[key](ctx)

    assert result.error is None
    assert result.key == key
    assert result.value is not None and result.value > 0
    assert result.baseline is not None and result.baseline > 0
    assert result.ratio == pytest.approx(result.value / result.baseline)
    assert result.baseline_label and result.unit
    table([result])  # renders without error
