"""`export_rules`: the active versions back to files; export then import is a no-op."""
import pytest

from governance.parameters.demo import demo_rules_bootstrap, demo_users_ensure
from tests.parameters.commands.conftest import run
from tests.parameters.conftest import contract_text, edit

pytestmark = pytest.mark.django_db


@pytest.fixture
def active_store(rules_dir, activate):
    """rules/ active as v1 everywhere, then a tightening of BTCUSDT active as v2."""
    demo_users_ensure()
    demo_rules_bootstrap(rules_dir=rules_dir)
    return activate(edit(contract_text("BTCUSDT"), "maintenance_margin_rate: 0.0065",
                         "maintenance_margin_rate: 0.007"))


def test_export_writes_the_exact_active_text_and_import_then_finds_nothing_to_do(rules_dir, active_store):
    result = run("export_rules", "--dir", "rules")
    assert (len(result.lines), result.lines[-1]) == (16, "export_rules: 1 written, 14 already in step, to rules")
    assert "rules/contracts/BTCUSDT.yaml: written (active v2)" in result.lines
    assert "rules/contracts/ETHUSDT.yaml: in step (active v1)" in result.lines
    assert (rules_dir / "contracts" / "BTCUSDT.yaml").read_text() == active_store.yaml_text

    imported = run("import_rules", "rules")
    assert imported.lines[-1] == ("import_rules: 0 new draft(s), 15 unchanged, 1 skipped; dry run, nothing written "
                                  "(--commit --author USER to write)")
    assert run("export_rules", "--dir", "rules", "--check").code == 0


def test_check_reports_files_that_differ_or_are_missing_and_writes_nothing(rules_dir, active_store):
    (rules_dir / "exchange.yaml").unlink()
    before = (rules_dir / "contracts" / "BTCUSDT.yaml").read_text()
    result = run("export_rules", "--dir", "rules", "--check")
    assert (result.code, result.lines[-1]) == (1, "export_rules: 13 in step, 1 differ, 1 missing")
    assert [line for line in result.lines if ": in step (" not in line] == [
        "rules/contracts/BTCUSDT.yaml: differs (active v2)",
        "rules/exchange.yaml: missing (active v1)",
        "export_rules: 13 in step, 1 differ, 1 missing",
    ]
    assert (rules_dir / "contracts" / "BTCUSDT.yaml").read_text() == before
    assert not (rules_dir / "exchange.yaml").exists()


def test_a_target_that_is_a_file_or_cannot_be_written_is_one_error_line(rules_dir, active_store):
    (rules_dir.parent / "notes.txt").write_text("not a directory\n")
    result = run("export_rules", "--dir", "notes.txt")
    assert (result.code, result.err) == (2, "not a directory: notes.txt")
    (rules_dir.parent / "other").mkdir()
    (rules_dir.parent / "other" / "contracts").write_text("a file where the folder goes\n")
    result = run("export_rules", "--dir", "other")
    assert (result.code, result.err) == (2, "cannot export to other/contracts: Not a directory")
    assert list((rules_dir.parent / "other").iterdir()) == [rules_dir.parent / "other" / "contracts"]


def test_a_target_that_cannot_be_written_stops_the_export_before_it_writes_anything(rules_dir, active_store):
    (rules_dir.parent / "out").mkdir()
    (rules_dir.parent / "out" / "exchange.yaml").mkdir()  # the last target, by subject key
    result = run("export_rules", "--dir", "out")
    assert (result.code, result.err) == (2, "cannot export to out/exchange.yaml: Is a directory")
    assert list((rules_dir.parent / "out").iterdir()) == [rules_dir.parent / "out" / "exchange.yaml"]


def test_a_file_that_is_not_utf8_is_overwritten_not_a_crash(rules_dir, active_store):
    (rules_dir / "contracts" / "ETHUSDT.yaml").write_bytes(b"\xff\xfe not yaml")
    result = run("export_rules", "--dir", "rules")
    assert (result.code, result.lines[-1]) == (0, "export_rules: 2 written, 13 already in step, to rules")
