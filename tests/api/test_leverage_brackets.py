"""The tiers in the shape of a large exchange's leverage-bracket endpoint, read by a client
library that knows that shape (ccxt's Binance parser), unchanged."""
from decimal import Decimal

import ccxt
import pytest

from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(active_rules):
    return token_client("reader", "consumers")


def binance_client() -> ccxt.binance:
    client = ccxt.binance()
    client.set_markets([{"id": "BTCUSDT", "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT",
                         "settle": "USDT", "baseId": "BTC", "quoteId": "USDT", "settleId": "USDT", "type": "swap",
                         "spot": False, "swap": True, "future": False, "option": False, "contract": True,
                         "linear": True, "inverse": False, "active": True, "precision": {}, "limits": {}}])
    return client


def test_one_contracts_brackets_in_the_exchange_shape(reader):
    body = reader.get("/api/v1/compat/leverage-bracket/", {"symbol": "BTCUSDT"}).json()
    assert (body["symbol"], body["notionalCoef"], len(body["brackets"])) == ("BTCUSDT", 1.0, 12)
    assert body["brackets"][:4] == [
        {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0, "maintMarginRatio": 0.004, "cum": 0.0},
        {"bracket": 2, "initialLeverage": 100, "notionalCap": 600000, "notionalFloor": 50000, "maintMarginRatio": 0.005, "cum": 50.0},
        {"bracket": 3, "initialLeverage": 75, "notionalCap": 3000000, "notionalFloor": 600000, "maintMarginRatio": 0.0065, "cum": 950.0},
        {"bracket": 4, "initialLeverage": 50, "notionalCap": 12000000, "notionalFloor": 3000000, "maintMarginRatio": 0.01, "cum": 11450.0}]


def test_the_client_library_parses_it_unchanged(reader):
    body = reader.get("/api/v1/compat/leverage-bracket/", {"symbol": "BTCUSDT"}).json()
    tiers = binance_client().parse_leverage_tiers([body], None, "symbol")["BTC/USDT:USDT"]
    ours = reader.get("/api/v1/contracts/BTCUSDT/").json()["tiers"]
    assert len(tiers) == len(ours) == 12
    for parsed, tier in zip(tiers, ours):
        assert (parsed["tier"], parsed["currency"]) == (tier["tier"], "USDT")
        assert Decimal(str(parsed["minNotional"])) == Decimal(tier["floor"])
        assert Decimal(str(parsed["maxNotional"])) == Decimal(tier["cap"])
        assert Decimal(str(parsed["maintenanceMarginRate"])) == Decimal(tier["maintenance_margin_rate"])
        assert Decimal(str(parsed["maxLeverage"])) == Decimal(tier["max_leverage"])
        assert Decimal(str(parsed["info"]["cum"])) == Decimal(tier["maintenance_amount"])


def test_a_group_multiplier_lowers_the_whole_leverage_and_scales_the_rates(reader):
    """1000PEPEUSDT's group multiplier 1.1: leverage L / 1.1 floored, rates x 1.1, cum from the scaled rates."""
    brackets = reader.get("/api/v1/compat/leverage-bracket/", {"symbol": "1000PEPEUSDT"}).json()["brackets"]
    # 25 / 1.1 = 22.7, 20 / 1.1 = 18.2; 0.02 x 1.1, 0.025 x 1.1; cum 5,000 x (0.0275 - 0.022)
    assert brackets[:2] == [
        {"bracket": 1, "initialLeverage": 22, "notionalCap": 5000, "notionalFloor": 0, "maintMarginRatio": 0.022, "cum": 0.0},
        {"bracket": 2, "initialLeverage": 18, "notionalCap": 25000, "notionalFloor": 5000, "maintMarginRatio": 0.0275, "cum": 27.5}]
    # 10, 5, 4, 3, 2 and 1 over 1.1; the last tier's initial rate is capped at 1: leverage 1
    assert [b["initialLeverage"] for b in brackets] == [22, 18, 9, 4, 3, 2, 1, 1]
    # 1.1 x the last cum of the unscaled table, 1,593,150
    assert (brackets[-1]["maintMarginRatio"], brackets[-1]["cum"]) == (0.55, 1752465.0)
    assert reader.get("/api/v1/contracts/1000PEPEUSDT/").json()["multiplier"] == "1.1"


def test_every_contract_without_a_symbol_and_errors_in_the_one_shape(reader):
    listing = reader.get("/api/v1/compat/leverage-bracket/")
    assert [b["symbol"] for b in listing.json()][:2] == ["1000PEPEUSDT", "ADAUSDT"] and len(listing.json()) == 14
    assert reader.get("/api/v1/compat/leverage-bracket/", HTTP_IF_NONE_MATCH=listing["ETag"]).status_code == 304
    missing = reader.get("/api/v1/compat/leverage-bracket/", {"symbol": "NOPE"})
    assert (missing.status_code, missing.json()["message"]) == (404, "no active parameters for contract 'NOPE'")
