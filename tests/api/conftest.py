"""The API tests read the rules/ parameters, active through the workflow."""
from tests.positions.conftest import active_rules  # noqa: F401 (fixture)
