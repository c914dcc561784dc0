"""The standing users the body-limit tests sign in as (their tests commit them, with
django_db(transaction=True), so the gunicorn process sees them)."""

from tests.support.users import data_scientist, merchandiser  # noqa: F401
