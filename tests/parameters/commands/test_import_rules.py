"""`import_rules`: dry run by default, idempotent by content hash, all files or none."""
import pytest

from governance.parameters.models import AuditEntry, ParameterVersion
from tests.parameters.commands.conftest import run
from tests.parameters.conftest import edit

pytestmark = pytest.mark.django_db


def test_dry_run_lists_the_drafts_and_writes_nothing(rules_dir, analyst):
    result = run("import_rules", "rules")
    assert (result.code, len(result.lines)) == (0, 17)
    assert result.lines[:3] == ["rules/exchange.yaml: new draft (no version yet)",
                                "rules/contracts/1000PEPEUSDT.yaml: new draft (no version yet)",
                                "rules/contracts/ADAUSDT.yaml: new draft (no version yet)"]
    assert result.lines[-2:] == [
        "rules/policy.yaml: skipped (the policy is read from the rules directory, not versioned in the store)",
        "import_rules: 15 new draft(s), 0 unchanged, 1 skipped; dry run, nothing written (--commit --author USER "
        "to write)",
    ]
    assert (ParameterVersion.objects.count(), AuditEntry.objects.count()) == (0, 0)


def test_commit_creates_drafts_by_the_author_and_a_second_run_is_a_no_op(rules_dir, analyst):
    result = run("import_rules", "rules", "--commit", "--author", "analyst")
    assert result.code == 0
    assert result.lines[:2] == ["rules/exchange.yaml: new draft (created v1)",
                                "rules/contracts/1000PEPEUSDT.yaml: new draft (created v1)"]
    assert result.lines[-1] == "import_rules: 15 new draft(s), 0 unchanged, 1 skipped"
    btc = ParameterVersion.objects.get(subject__key="BTCUSDT")
    assert (btc.state, btc.author.username, btc.rationale) == ("draft", "analyst",
                                                                "Imported from rules/contracts/BTCUSDT.yaml.")
    assert btc.yaml_text == (rules_dir / "contracts" / "BTCUSDT.yaml").read_text()

    again = run("import_rules", "rules", "--commit", "--author", "analyst")
    assert "rules/contracts/BTCUSDT.yaml: unchanged (same content as v1, draft)" in again.lines
    assert again.lines[-1] == "import_rules: 0 new draft(s), 15 unchanged, 1 skipped"
    assert ParameterVersion.objects.count() == 15


def test_a_comment_is_not_a_change_but_a_value_is(rules_dir, analyst):
    run("import_rules", "rules", "--commit", "--author", "analyst")
    path = rules_dir / "contracts" / "BTCUSDT.yaml"
    path.write_text("# reviewed again\n" + path.read_text())
    assert run("import_rules", "rules/contracts/BTCUSDT.yaml").lines[0] == (
        "rules/contracts/BTCUSDT.yaml: unchanged (same content as v1, draft)")

    path.write_text(edit(path.read_text(), "maintenance_margin_rate: 0.0065", "maintenance_margin_rate: 0.007"))
    result = run("import_rules", "rules/contracts/BTCUSDT.yaml", "--commit", "--author", "analyst",
                 "--rationale", "Tier 3 up.")
    assert result.lines == ["rules/contracts/BTCUSDT.yaml: new draft (created v2)",
                            "import_rules: 1 new draft(s), 0 unchanged, 0 skipped"]
    assert ParameterVersion.objects.get(subject__key="BTCUSDT", number=2).rationale == "Tier 3 up."


def test_one_invalid_file_imports_nothing_and_says_where(rules_dir, analyst):
    path = rules_dir / "contracts" / "ETHUSDT.yaml"
    path.write_text(edit(path.read_text(), "margin_call_threshold: 0.8", "margin_call_threshold: 1.2"))
    result = run("import_rules", "rules", "--commit", "--author", "analyst")
    assert result.code == 1
    assert result.lines == [
        "rules/contracts/ETHUSDT.yaml:8:24: margin_call_threshold: 1.2 is outside the policy bounds [0.5, 0.95] for "
        "margin_call_threshold",
        "rules/contracts/ETHUSDT.yaml:8:24: margin_call_threshold: must be less than 1, got 1.2",
        "import_rules: 2 error(s) in 1 file(s); nothing imported",
    ]
    assert (ParameterVersion.objects.count(), AuditEntry.objects.count()) == (0, 0)


@pytest.mark.parametrize("args, message", [
    (["rules", "--commit"], "--commit needs --author USERNAME: drafts have an author"),
    (["rules", "--commit", "--author", "nobody"], "no user 'nobody'"),
    (["rules", "--commit", "--author", "alice"],
     "alice may not draft a parameter change: it needs the authors role (group 'analysts')"),
    (["nowhere"], "no such file or directory: nowhere"),
])
def test_bad_arguments_exit_2_and_write_nothing(rules_dir, analyst, alice, args, message):
    result = run("import_rules", *args)
    assert (result.code, result.err) == (2, message)
    assert ParameterVersion.objects.count() == 0
