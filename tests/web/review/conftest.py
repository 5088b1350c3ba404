import pytest

from tests.web.review.helpers import report_for


@pytest.fixture
def report(engineer):
    return report_for(engineer)
