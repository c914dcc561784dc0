"""Pointing the test process's Celery app at a real broker (Redis) and back."""

from __future__ import annotations

from contextlib import contextmanager


def _reset_producers(app) -> None:
    """Drop every cached broker connection, so the next publish connects to broker_url."""
    from kombu import pools

    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    pools.reset()  # kombu keeps producer pools per connection URL, process-wide


@contextmanager
def real_broker(url: str):
    from config.celery import app

    previous = app.conf.broker_url
    app.conf.task_always_eager = False
    app.conf.broker_url = url
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    _reset_producers(app)
    try:
        yield app
    finally:
        app.conf.broker_url = previous
        app.conf.task_always_eager = True
        _reset_producers(app)
