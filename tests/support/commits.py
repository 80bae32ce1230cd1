"""on_commit callbacks as in production, inside pytest-django's per-test transaction.

A ``django_db`` test runs in a transaction that is rolled back, never committed, so an
``on_commit`` callback registered outside any transaction of the code's own would never run,
where in production (autocommit) it runs at once. ``run_on_commit_as_in_autocommit`` makes the
test's own wrapping transaction transparent: a callback registered while only that transaction
is open runs at once; one registered inside a ``transaction.atomic()`` of the code under test
waits for that block as usual (and is dropped when the block rolls back).
"""
import logging

from django.db.backends.base.base import BaseDatabaseWrapper

log = logging.getLogger("django.db.backends.base")
_original_on_commit = BaseDatabaseWrapper.on_commit


def _only_test_transactions_open(connection):
    # Django marks the atomic blocks a TestCase opens (the same mark lets durable=True blocks
    # run inside a test).
    return all(getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def _on_commit(self, func, robust=False):
    if not (self.in_atomic_block and _only_test_transactions_open(self)):
        return _original_on_commit(self, func, robust)
    if not robust:
        return func()
    try:
        func()
    except Exception:
        log.exception("Error calling %s in on_commit()", func.__qualname__)


def run_on_commit_as_in_autocommit(monkeypatch):
    monkeypatch.setattr(BaseDatabaseWrapper, "on_commit", _on_commit)
