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


def test_a_symbol_no_subject_could_be_named_by_is_refused_before_anything_is_written(analyst):
    # the subject is created first, before the content is validated: its key must already be a
    # symbol (PostgreSQL would refuse a NUL, or a key over 40 characters, with a 500)
    for symbol, shown in (("A" * 200, f"'{'A' * 57}...'"), ('"BTC\\0USDT"', "'BTC\x00USDT'"), ("btcusdt", "'btcusdt'")):
        text = edit(BTC, "symbol: BTCUSDT\n", f"symbol: {symbol}\n")
        before = counts()
        with pytest.raises(ValidationFailed) as raised:  # a draft that may stay invalid (the admin)
            services.version_draft_create(actor=analyst, yaml_text=text, rationale="Because.")
        message = f"{shown} does not match the pattern ^[A-Z0-9]{{2,30}}$ of a contract symbol"
        assert (raised.value.message, raised.value.details) == (message, [{"path": "symbol", "message": message}])
        assert counts() == before
        error = refused(analyst, text)  # the API's: the schema's located error
        assert error.message == (f"the draft does not validate: 1 error(s); first: draft:3:9: symbol: {shown} does not "
                                 f"match the pattern ^[A-Z0-9]{{2,30}}$")
    error = refused(analyst, BTC, subject_key="BTC USDT")
    message = "'BTC USDT' does not match the pattern ^[A-Z0-9]{2,30}$ of a contract symbol"
    assert (error.message, error.details) == (message, [{"path": "subject", "message": message}])


def test_exchange_wide_text_under_a_contract_subject_is_refused_not_moved_to_the_exchange(analyst):
    from tests.parameters.conftest import exchange_text

    error = refused(analyst, exchange_text(), subject_key="BTCUSDT")
    message = "the subject 'BTCUSDT' is a contract, but the text is exchange-wide (schema: exchange/v1)"
    assert (error.message, error.details) == (message, [{"path": "subject", "message": message}])
