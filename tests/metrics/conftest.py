"""Metrics fixtures: a workload to hang samples on, and the metrics logger's lines."""
import logging

import pytest


@pytest.fixture
def workload(make_workload):
    return make_workload()


@pytest.fixture
def metrics_log():
    """Records what the tinyforge.metrics logger says (works with ``-p no:logging``)."""

    class Lines(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.lines = []

        def emit(self, record):
            self.lines.append(record.getMessage())

    handler = Lines()
    logger = logging.getLogger("tinyforge.metrics")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


@pytest.fixture(scope="session")
def busybox_image(engine, tmp_path_factory):
    from tests.metrics import containers
    from tests.support import dockerlab

    image = containers.build_image(tmp_path_factory.mktemp("metrics-image"))
    yield image
    dockerlab.remove_image(image)
