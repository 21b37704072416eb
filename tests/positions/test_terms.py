"""The terms in force, built once per process and read with a fixed number of queries."""
from decimal import Decimal as D

import pytest

from governance.positions import terms as terms_module
from governance.positions.terms import terms_current

pytestmark = pytest.mark.django_db


def test_terms_are_built_from_one_read_of_the_texts_and_then_reused(active_rules, django_assert_num_queries,
                                                                    monkeypatch):
    monkeypatch.setattr(terms_module, "_BUILT", terms_module._BuiltTerms(size=64))
    # the versions in force (ids and hashes), realized volatilities, then the 15 texts at once
    with django_assert_num_queries(3):
        built = terms_current()
    assert len(built) == 14 and built["BTCUSDT"].schedule[1].maintenance_amount == 50
    with django_assert_num_queries(2):  # built already: the texts are not read
        assert terms_current() == built


def test_terms_of_some_contracts_carry_the_exchange_wide_version_in_force(active_rules):
    from governance.parameters.selectors import exchange_version_active

    built = terms_current(symbols=["BTCUSDT", "NOSUCHUSDT"])
    assert list(built) == ["BTCUSDT"]
    assert built["BTCUSDT"].exchange_version_id == exchange_version_active().pk
    assert built["BTCUSDT"].multiplier == 1


def test_overrides_replace_the_version_in_force_of_their_subject(active_rules):
    from governance.parameters import services
    from tests.parameters.conftest import edit, exchange_text
    from tests.parameters.factories import UserFactory

    analyst = UserFactory(username="terms-analyst", roles=["authors"])
    draft = services.version_draft_create(actor=analyst, rationale="Wider.", subject_key="exchange",
                                          yaml_text=edit(exchange_text(), "global_multiplier: 1\n",
                                                         "global_multiplier: 1.1\n"))
    in_force = terms_current(symbols=["BTCUSDT"])["BTCUSDT"]
    preview = terms_current(symbols=["BTCUSDT"], overrides={"exchange": draft})["BTCUSDT"]
    assert (preview.exchange_version_id, preview.multiplier) == (draft.pk, 1 * D("1.1"))
    assert preview.schedule[0].maintenance_margin_rate == in_force.schedule[0].maintenance_margin_rate * D("1.1")
    assert terms_current(symbols=["BTCUSDT"])["BTCUSDT"] == in_force  # the override is not kept as in force
