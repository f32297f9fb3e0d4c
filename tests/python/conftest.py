import pytest


@pytest.fixture
def pint():
    return pytest.importorskip("pint")
