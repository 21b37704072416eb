"""version_draft_create(require_valid=True): content that does not validate is refused, located, unwritten."""
import pytest

from governance.errors import ValidationFailed
from governance.parameters import services
from governance.parameters.models import AuditEntry, ParameterVersion, Subject
from tests.parameters.conftest import contract_text, edit

pytestmark = pytest.mark.django_db
BTC = contract_text()


def counts() -> tuple[int, int, int]:
    return Subject.objects.count(), ParameterVersion.objects.count(), AuditEntry.objects.count()


def refused(analyst, text: str, **kwargs) -> ValidationFailed:
    before = counts()
    with pytest.raises(ValidationFailed) as raised:
        services.version_draft_create(actor=analyst, yaml_text=text, rationale="Because.", require_valid=True, **kwargs)
    assert counts() == before
    return raised.value


def test_by_default_an_invalid_draft_is_kept(analyst):
    version = services.version_draft_create(actor=analyst, yaml_text=edit(BTC, "cap: 50000\n", "cap: fifty\n"),
                                            rationale="Because.")
    assert (version.number, version.state, AuditEntry.objects.get().details) == (
        1, "draft", {"errors": 1, "rollback_of": None})


def test_a_schema_error_is_refused_with_its_location_and_no_subject_is_created(analyst):
    error = refused(analyst, edit(BTC, "cap: 50000\n", "cap: fifty\n"))
    text = "rules/contracts/BTCUSDT.yaml:11:10: tiers[0].cap: expected a number, got 'fifty'"
    assert error.message == f"the draft for BTCUSDT does not validate: 1 error(s); first: {text}"
    assert error.details == [{"line": 11, "column": 10, "path": "tiers[0].cap",
                              "message": "expected a number, got 'fifty'", "text": text}]


def test_text_too_broken_to_name_its_subject_is_refused_where_it_breaks(analyst):
    error = refused(analyst, edit(BTC, "cap: 50000\n", "cap: [50000\n"))
    message = "YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence"
    assert error.message == f"the draft does not validate: 1 error(s); first: draft:12:17: {message}"
    assert error.details == [{"line": 12, "column": 17, "path": "", "message": message,
                              "text": f"draft:12:17: {message}"}]


def test_a_valid_draft_is_written_as_before(analyst):
    version = services.version_draft_create(actor=analyst, yaml_text=BTC, rationale="Because.", require_valid=True)
    assert (version.subject.key, version.number, version.state) == ("BTCUSDT", 1, "draft")
    assert counts() == (1, 1, 1)
