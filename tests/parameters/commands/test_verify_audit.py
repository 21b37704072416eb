"""`verify_audit` finds an entry changed or removed behind the application's back."""
import pytest
from django.db import connection

from governance.parameters.models import AuditEntry
from tests.parameters.commands.conftest import run
from tests.parameters.conftest import contract_text

pytestmark = pytest.mark.django_db


def _behind_the_applications_back(sql: str, params: list) -> None:
    """What someone with database access could do: switch the append-only guard off, then write."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending deferred FK checks
            cursor.execute("ALTER TABLE parameters_auditentry DISABLE TRIGGER parameters_audit_append_only")
        else:
            cursor.execute("DROP TRIGGER parameters_audit_no_update")
        cursor.execute(sql, params)


def test_an_intact_chain_exits_0_and_prints_its_head(activate):
    activate(contract_text())
    head = AuditEntry.objects.get(sequence=6).entry_hash
    result = run("verify_audit")
    assert (result.code, result.lines) == (
        0, [f"verify_audit: 6 entries, chain intact; head 6:{head} (keep it, check later with --head)"])
    assert run("verify_audit", "--head", f"6:{head}").code == 0


def test_the_newest_entries_removed_are_found_by_what_they_recorded(activate):
    activate(contract_text())  # created, submitted, 2 approvals given, approved, activated
    head = AuditEntry.objects.get(sequence=6).entry_hash
    _behind_the_applications_back("DELETE FROM parameters_auditentry WHERE sequence >= %s", [4])
    result = run("verify_audit", "--head", f"6:{head}")
    assert (result.code, result.lines) == (1, [
        "audit entry #6: recorded earlier as the head, is missing: the log ends at #3",
        "audit entry #3: BTCUSDT v1 is active, but its latest entry says submitted (entries removed?)",
        "audit entry #3: BTCUSDT v1 has 2 approval approval(s) given, but 1 logged (entries removed?)",
        "verify_audit: 3 entries, 3 problem(s): the audit log was tampered with",
    ])


def test_an_emptied_log_is_found_with_the_head_kept(activate):
    activate(contract_text())
    head = AuditEntry.objects.get(sequence=6).entry_hash
    _behind_the_applications_back("DELETE FROM parameters_auditentry", [])
    result = run("verify_audit", "--head", f"6:{head}")
    assert result.code == 1
    assert result.lines[0] == "audit entry #6: recorded earlier as the head, is missing: the log ends at #0"


def test_a_malformed_head_is_refused(db):
    for head in ("six", f"0:{'a' * 64}", f"\u0663:{'a' * 64}"):  # sequences start at 1, in ASCII digits
        result = run("verify_audit", "--head", head)
        assert (result.code, result.err) == (
            2, f"--head must be SEQUENCE:HASH as printed by an earlier run (e.g. 12:{'0' * 64}), got {head!r}")


def test_a_head_before_the_first_entry_is_a_problem_not_a_pass(db):
    from governance.parameters.audit import audit_verify

    count, problems = audit_verify(head=(0, "a" * 64))
    assert (count, [(p.sequence, p.message) for p in problems]) == (
        0, [(0, "recorded earlier as the head, names no entry: sequences start at 1")])


def test_an_altered_reason_is_found(activate):
    activate(contract_text())
    _behind_the_applications_back("UPDATE parameters_auditentry SET actor_name = %s WHERE sequence = 3",
                                  ["mallory"])
    result = run("verify_audit")
    assert (result.code, result.lines) == (1, [
        "audit entry #3: content was altered (its hash does not match)",
        "verify_audit: 6 entries, 1 problem(s): the audit log was tampered with",
    ])


def test_a_removed_entry_is_found(activate):
    activate(contract_text())
    _behind_the_applications_back("DELETE FROM parameters_auditentry WHERE sequence = %s", [2])
    result = run("verify_audit")
    assert (result.code, result.lines) == (1, [
        "audit entry #3: entries #2 are missing (removed)",
        "audit entry #3: does not chain to the entry before it",
        "verify_audit: 5 entries, 2 problem(s): the audit log was tampered with",
    ])


def test_the_database_refuses_an_update_while_the_guard_is_on(activate):
    from django.db import DatabaseError, transaction

    activate(contract_text())
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(sequence=1).update(reason="quietly")


def test_content_changed_behind_the_logs_back_is_found(activate):
    version = activate(contract_text())
    with connection.cursor() as cursor:  # the version's guard off, as someone with database access could
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE parameters_parameterversion DISABLE TRIGGER parameters_version_guard")
        else:
            cursor.execute("DROP TRIGGER parameters_version_frozen")
        cursor.execute("UPDATE parameters_parameterversion SET content_hash = %s WHERE id = %s", ["0" * 64, version.pk])
    result = run("verify_audit")
    assert (result.code, result.lines) == (1, [
        "audit entry #6: BTCUSDT v1's content is not the content its latest entry recorded (content changed behind "
        "the log's back?)",
        "verify_audit: 6 entries, 1 problem(s): the audit log was tampered with",
    ])
