"""Published tier tables used as golden data.

BTCUSDT: leverage brackets of a large exchange's USDT-margined BTC perpetual (Binance
`GET /fapi/v1/leverageBracket`), Oct 2024 snapshot, as quoted in shared/reference/margin-math.md.
"""
from decimal import Decimal as D

from governance.margin import Tier, schedule_build

BTCUSDT_TIERS = tuple(Tier(D(f), D(c), D(lev), D(mmr)) for f, c, lev, mmr in [
    ("0", "50000", "125", "0.004"),
    ("50000", "600000", "100", "0.005"),
    ("600000", "3000000", "75", "0.0065"),
    ("3000000", "12000000", "50", "0.01"),
    ("12000000", "70000000", "25", "0.02"),
    ("70000000", "100000000", "20", "0.025"),
    ("100000000", "230000000", "10", "0.05"),
    ("230000000", "480000000", "5", "0.1"),
    ("480000000", "600000000", "4", "0.125"),
    ("600000000", "800000000", "3", "0.15"),
    ("800000000", "1200000000", "2", "0.25"),
    ("1200000000", "1800000000", "1", "0.5"),
])
# The published "cum" column of the same table.
BTCUSDT_CUM = [D(x) for x in ["0", "50", "950", "11450", "131450", "481450", "2981450", "14481450",
                              "26481450", "41481450", "121481450", "421481450"]]
BTCUSDT = schedule_build(tiers=BTCUSDT_TIERS)
