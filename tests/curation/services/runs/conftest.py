import pytest

from tests.support.broker import real_broker
from tests.support.workers import worker_pool


@pytest.fixture
def workers(redis_url, tmp_path, settings):
    """Real Celery worker processes on a real Redis broker (start them with workers.start)."""
    with real_broker(redis_url):
        yield from worker_pool(redis_url, tmp_path, settings)
