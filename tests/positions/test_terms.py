"""The terms in force, built once per process and read with a fixed number of queries."""
import pytest

from governance.positions import terms as terms_module
from governance.positions.terms import terms_current

pytestmark = pytest.mark.django_db


def test_terms_are_built_from_one_read_of_the_texts_and_then_reused(active_rules, django_assert_num_queries,
                                                                    monkeypatch):
    monkeypatch.setattr(terms_module, "_BUILT", terms_module._BuiltTerms(size=64))
    # exchange version, contract versions, realized volatilities, then the texts of all 14 at once
    with django_assert_num_queries(4):
        built = terms_current()
    assert len(built) == 14 and built["BTCUSDT"].schedule[1].maintenance_amount == 50
    with django_assert_num_queries(3):  # built already: the texts are not read
        assert terms_current() == built
