"""`manage.py import_positions FILE [--market]`: all rows or none, errors located in the file."""
from decimal import Decimal as D

import pytest

from governance.positions.models import MarketData, Position
from tests.parameters.commands.conftest import run

pytestmark = pytest.mark.django_db

HEADER = "account,symbol,side,quantity,entry_price,isolated_margin\n"


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Files are named relative to the working directory, as a user would type them."""
    monkeypatch.chdir(tmp_path)

    def write(name: str, text: str) -> str:
        (tmp_path / name).write_text(text)
        return name
    return write


def stored(account: str, symbol: str) -> tuple:
    return Position.objects.values_list("side", "quantity", "entry_price", "isolated_margin", "status").get(
        account__code=account, symbol=symbol)


def test_csv_creates_then_updates_positions(active_rules, here):
    name = here("book.csv", HEADER + "A1,BTCUSDT,long,10,60000.0,30000\n\nA2,ETHUSDT,short,2.5,3000,100\n")
    result = run("import_positions", name)
    assert (result.code, result.lines) == (0, ["import_positions: 2 rows (2 created, 0 updated)"])
    assert stored("A1", "BTCUSDT") == ("long", D("10"), D("60000"), D("30000"), "healthy")
    here("more.csv", HEADER + "A1,BTCUSDT,short,1,61000,500\nA3,BTCUSDT,long,0.001,60000,1\n")
    result = run("import_positions", "more.csv")
    assert (result.code, result.lines) == (0, ["import_positions: 2 rows (1 created, 1 updated)"])
    assert stored("A1", "BTCUSDT")[:4] == ("short", D("1"), D("61000"), D("500"))
    assert Position.objects.count() == 3


def test_jsonl_keeps_decimals_as_their_text_never_floats(active_rules, here, monkeypatch):
    from governance.positions.management.commands import import_positions as command

    given = []
    upsert = command.positions_upsert
    monkeypatch.setattr(command, "positions_upsert", lambda *, rows: given.extend(rows) or upsert(rows=rows))
    name = here("book.jsonl",
                '{"account": "A1", "symbol": "BTCUSDT", "side": "long", "quantity": 0.123456789012345678, '
                '"entry_price": "60000.1", "isolated_margin": 3000}\n'
                '\n'
                '{"account": "A2", "symbol": "ETHUSDT", "side": "short", "quantity": "2", "entry_price": 3000.01, '
                '"isolated_margin": 1E2}\n')
    result = run("import_positions", name)
    assert (result.code, result.lines) == (0, ["import_positions: 2 rows (2 created, 0 updated)"])
    assert [(r["quantity"], r["entry_price"], r["isolated_margin"]) for r in given] == [
        ("0.123456789012345678", "60000.1", 3000), ("2", "3000.01", "100")]
    assert stored("A2", "ETHUSDT")[1:4] == (D("2"), D("3000.01"), D("100"))


@pytest.mark.postgres
def test_jsonl_decimals_are_stored_exactly(active_rules, here):
    here("book.jsonl", '{"account": "A1", "symbol": "BTCUSDT", "side": "long", "quantity": 0.123456789012345678, '
                       '"entry_price": 60000.123456789012345678, "isolated_margin": "3000"}\n')
    assert run("import_positions", "book.jsonl").code == 0
    assert stored("A1", "BTCUSDT")[1:3] == (D("0.123456789012345678"), D("60000.123456789012345678"))


def test_market_data_from_csv_and_jsonl(active_rules, here):
    here("marks.csv", "symbol,mark_price,realized_volatility\nBTCUSDT,60010.5,0.45\nETHUSDT,3001,\n")
    result = run("import_positions", "marks.csv", "--market")
    assert (result.code, result.lines) == (0, ["import_positions: 2 rows (2 created, 0 updated)"])
    assert set(MarketData.objects.values_list("symbol", "mark_price", "realized_volatility")) == {
        ("BTCUSDT", D("60010.5"), D("0.45")), ("ETHUSDT", D("3001"), None)}
    here("marks.jsonl", '{"symbol": "ETHUSDT", "mark_price": 2999.99}\n{"symbol": "SOLUSDT", "mark_price": "150"}\n')
    result = run("import_positions", "marks.jsonl", "--market")
    assert (result.code, result.lines) == (0, ["import_positions: 2 rows (1 created, 1 updated)"])
    assert MarketData.objects.get(symbol="ETHUSDT").mark_price == D("2999.99")


CSV_CASES = [
    pytest.param(HEADER + "A1,BTCUSDT,long,10,60000,30000\nA2,BTCUSDT,long,ten,60000,30000\n",
                 ["book.csv:3: quantity: not a decimal in plain notation (digits, at most one point): 'ten'"],
                 id="bad-number"),
    pytest.param(HEADER + "A1,NOPEUSDT,long,10,60000,30000\n\nA2,BTCUSDT,sideways,10,60000,-1\n",
                 ["book.csv:2: symbol: unknown contract 'NOPEUSDT'",
                  "book.csv:4: side: must be long or short, got 'sideways'",
                  "book.csv:4: isolated_margin: must be zero or more, got -1"], id="unknown-symbol-and-bad-values"),
    pytest.param(HEADER + "A1,BTCUSDT,long,10,60000,30000\nA1,BTCUSDT,short,1,60000,300\n",
                 ["book.csv:3: duplicate position A1/BTCUSDT in this upsert"], id="duplicate"),
    pytest.param(HEADER + "A1,BTCUSDT,long,10,,30000\n", ["book.csv:2: entry_price: required"], id="empty-cell"),
    # what Decimal() alone reads, and nobody meant: 1_0 is ten to Python
    pytest.param(HEADER + "A1,BTCUSDT,long,1_0,6E+4,Infinity\n",
                 ["book.csv:2: quantity: not a decimal in plain notation (digits, at most one point): '1_0'",
                  "book.csv:2: entry_price: not a decimal in plain notation (digits, at most one point): '6E+4'",
                  "book.csv:2: isolated_margin: not a decimal in plain notation (digits, at most one point): "
                  "'Infinity'"], id="not-plain-notation"),
    pytest.param(HEADER + "A1,BTCUSDT,long,1000000000000000000000000000000,60000.1234567890123456789,"
                          "30000.000000000000000000000\n",
                 ["book.csv:2: quantity: too large, at most 20 digits before the decimal point: "
                  "1000000000000000000000000000000",
                  "book.csv:2: entry_price: more than 18 decimal places: 60000.1234567890123456789"],
                 id="beyond-the-columns"),
    # longer than Python's 28-digit context: counted exactly, not rounded first
    pytest.param(HEADER + "A1,BTCUSDT,long,1,99999999999999999999.9999999999999999999,0.0000000000000000001\n"
                          "A2,BTCUSDT,long,12345678901.1234567890123456789,60000,30000.000000000000000000000\n",
                 ["book.csv:2: entry_price: more than 18 decimal places: 99999999999999999999.9999999999999999999",
                  "book.csv:2: isolated_margin: more than 18 decimal places: 0.0000000000000000001",
                  "book.csv:3: quantity: more than 18 decimal places: 12345678901.1234567890123456789"],
                 id="beyond-the-context"),
    pytest.param("account,symbol,side,quantity,entry_price\nA1,BTCUSDT,long,10,60000\n",
                 ["book.csv:1: missing column(s): isolated_margin"], id="missing-column"),
    pytest.param("account,symbol,side,qty,entry_price,isolated_margin\n",
                 ["book.csv:1: missing column(s): quantity",
                  "book.csv:1: unknown column(s): qty (expected account, symbol, side, quantity, entry_price, "
                  "isolated_margin)"], id="misspelt-column"),
    pytest.param(HEADER + "A1,BTCUSDT,long,10,60000\nA2,BTCUSDT,long,1,60000,300,9\n",
                 ["book.csv:2: expected 6 fields (account, symbol, side, quantity, entry_price, isolated_margin), "
                  "got 5",
                  "book.csv:3: expected 6 fields (account, symbol, side, quantity, entry_price, isolated_margin), "
                  "got 7"], id="wrong-field-count"),
    pytest.param(HEADER + 'A1,BTCUSDT,long,"10,60000,30000\n',
                 ["book.csv:2: bad CSV: unexpected end of data"], id="unclosed-quote"),
    pytest.param("", ["book.csv:1: empty file: expected a header row (account, symbol, side, quantity, "
                      "entry_price, isolated_margin)"], id="empty-file"),
    pytest.param(HEADER, ["book.csv: no rows"], id="header-only"),
]


JSONL_CASES = [
    pytest.param('{"account": "A1", "symbol": "BTCUSDT", "side": "long", "quantity": "10", "entry_price": "60000", '
                 '"isolated_margin": "30000"}\n{"account": "A2", "symbol": "BTCUSDT",\n[1, 2]\n',
                 ["book.jsonl:2: bad JSON: Expecting property name enclosed in double quotes (column 39)",
                  "book.jsonl:3: expected a JSON object, got list"], id="bad-json-lines"),
    pytest.param('{"account": "A1", "symbol": "BTCUSDT", "side": "long", "quantity": NaN, "entry_price": "1", '
                 '"isolated_margin": "1"}\n',
                 ["book.jsonl:1: bad JSON: NaN is not a number"], id="nan"),
    pytest.param('{"account": "A1", "symbol": "BTCUSDT", "side": "long", "qty": "1"}\n',
                 ["book.jsonl:1: unknown field(s): qty (expected account, symbol, side, quantity, entry_price, "
                  "isolated_margin)"], id="unknown-field"),
    pytest.param('\n{"account": 7, "symbol": "BTCUSDT", "side": "long", "quantity": true, "entry_price": "60000", '
                 '"isolated_margin": "0"}\n',
                 ["book.jsonl:2: account: required: the account code (at most 64 characters)",
                  "book.jsonl:2: quantity: must be a decimal string or integer, not True"], id="wrong-types"),
    pytest.param('{"account": "A1", "symbol": "BTCUSDT", "side": "long", "quantity": 1e999999999, "entry_price": "1", '
                 '"isolated_margin": "1"}\n',
                 ["book.jsonl:1: quantity: not a decimal in plain notation (digits, at most one point): "
                  "'1e999999999'"], id="exponent-beyond-any-column"),
    pytest.param("[" * 100_000 + "]" * 100_000 + "\n", ["book.jsonl:1: bad JSON: nested too deeply"], id="too-deep"),
    pytest.param('{"account": "A\\u0000", "symbol": "BTCUSDT", "side": "long", "quantity": "1", "entry_price": "1", '
                 '"isolated_margin": "1"}\n',
                 ["book.jsonl:1: account: may hold printable characters only, got 'A\\x00'"], id="nul-in-account"),
    pytest.param("\n\n", ["book.jsonl: no rows"], id="blank"),
    pytest.param('{"account": "A1", "symbol": "BTCUSDT", "side": "long", "quantity": "1", "entry_price": "1", '
                 '"isolated_margin": "1", "account": "A2"}\n',
                 ["book.jsonl:1: bad JSON: field given twice: account"], id="a-field-twice"),
    # U+2028 is a line break to str.splitlines(), not to JSON (nor to the file's own lines)
    pytest.param('{"account": "A\u2028B", "symbol": "BTCUSDT", "side": "long", "quantity": "1", "entry_price": "1", '
                 '"isolated_margin": "1"}\r\n{"account": "A2", "symbol": "BAD", "side": "long", "quantity": "1", '
                 '"entry_price": "1", "isolated_margin": "1"}\n',
                 ["book.jsonl:1: account: may hold printable characters only, got 'A\\u2028B'",
                  "book.jsonl:2: symbol: unknown contract 'BAD'"], id="line-separator-in-a-string"),
]


@pytest.mark.parametrize("name, cases", [("book.csv", CSV_CASES), ("book.jsonl", JSONL_CASES)])
def test_an_invalid_file_writes_nothing_and_says_where(active_rules, here, name, cases):
    # one book of active rules for all the cases (setting it up is the slow part): none writes anything
    for case in cases:
        text, errors = case.values
        here(name, text)
        result = run("import_positions", name)
        assert (result.code, result.lines) == (
            1, [*errors, f"import_positions: {len(errors)} error(s) in {name}; nothing imported"]), case.id
        assert Position.objects.count() == 0, case.id


def test_invalid_market_data_writes_nothing(active_rules, here):
    here("marks.csv", "symbol,mark_price,realized_volatility\nBTCUSDT,60000,0.4\nNOPE,1,\nETHUSDT,-3,\n"
                      "BTCUSDT,60001,\n")
    result = run("import_positions", "marks.csv", "--market")
    assert (result.code, result.lines) == (1, [
        "marks.csv:3: symbol: unknown contract 'NOPE'",
        "marks.csv:4: mark_price: must be positive, got -3",
        "marks.csv:5: symbol: duplicate contract 'BTCUSDT' in this upsert",
        "import_positions: 3 error(s) in marks.csv; nothing imported"])
    here("marks.csv", "symbol,mark_price,realized_volatility\nBTCUSDT,60000,0.4\nNOPE,1,\nETHUSDT,-3,\n")
    result = run("import_positions", "marks.csv", "--market")
    assert (result.code, result.lines) == (1, [
        "marks.csv:3: symbol: unknown contract 'NOPE'",
        "marks.csv:4: mark_price: must be positive, got -3",
        "import_positions: 2 error(s) in marks.csv; nothing imported"])
    here("marks.csv", "symbol,mark_price,realized_volatility\nBTCUSDT,60000,0.12345678901\n")
    result = run("import_positions", "marks.csv", "--market")
    assert (result.code, result.lines[0]) == (
        1, "marks.csv:2: realized_volatility: more than 10 decimal places: 0.12345678901")
    here("positions.csv", HEADER)
    result = run("import_positions", "positions.csv", "--market")
    assert (result.code, result.lines[:2]) == (1, [
        "positions.csv:1: missing column(s): mark_price",
        "positions.csv:1: unknown column(s): account, side, quantity, entry_price, isolated_margin "
        "(expected symbol, mark_price, realized_volatility)"])
    assert MarketData.objects.count() == 0


def test_bad_arguments_exit_2(db, here):
    assert (run("import_positions", "missing.csv").code, run("import_positions", "missing.csv").err) == (
        2, "no such file: missing.csv")
    here("book.xlsx", "")
    result = run("import_positions", "book.xlsx")
    assert (result.code, result.err) == (2, "unsupported file type '.xlsx': expected .csv or .jsonl")
    result = run("import_positions", ".")
    assert (result.code, result.err) == (2, "not a file: .")


def test_a_file_it_may_not_read_is_one_error_line(active_rules, here, monkeypatch):
    here("book.csv", HEADER + "A1,BTCUSDT,long,10,60000,30000\n")

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr("pathlib.Path.read_bytes", denied)  # as root, chmod would not stop the read
    result = run("import_positions", "book.csv")
    assert (result.code, result.lines) == (1, ["book.csv: cannot read it: Permission denied",
                                               "import_positions: 1 error(s) in book.csv; nothing imported"])
