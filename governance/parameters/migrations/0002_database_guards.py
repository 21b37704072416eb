"""Database guards the service layer does not rely on alone.

- A version's content cannot change once it has left the draft state.
- Audit entries cannot be updated (nor, on PostgreSQL, deleted); approvals only get revoked.
On SQLite (the embedded development default) DELETE stays possible, because Django's test
flush empties tables with DELETE; verify_audit still detects a removed entry.
"""
from django.db import migrations

FROZEN_COLUMNS = ("yaml_text", "canonical", "content_hash", "subject_id", "number", "author_id")

PG_FORWARD = f"""
CREATE OR REPLACE FUNCTION parameters_version_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.state <> 'draft' THEN
      RAISE EXCEPTION 'version % of subject % is %: it cannot be deleted', OLD.number, OLD.subject_id, OLD.state
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.state <> 'draft' AND ({' OR '.join(f'NEW.{c} IS DISTINCT FROM OLD.{c}' for c in FROZEN_COLUMNS)}) THEN
    RAISE EXCEPTION 'version % of subject % is %: its content is frozen', OLD.number, OLD.subject_id, OLD.state
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER parameters_version_guard BEFORE UPDATE OR DELETE ON parameters_parameterversion
  FOR EACH ROW EXECUTE FUNCTION parameters_version_guard();

CREATE OR REPLACE FUNCTION parameters_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'integrity_constraint_violation';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER parameters_audit_append_only BEFORE UPDATE OR DELETE ON parameters_auditentry
  FOR EACH ROW EXECUTE FUNCTION parameters_append_only();

CREATE OR REPLACE FUNCTION parameters_approval_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' OR NEW.version_id <> OLD.version_id OR NEW.approver_id <> OLD.approver_id
     OR NEW.kind <> OLD.kind OR NEW.content_hash <> OLD.content_hash OR OLD.revoked_at IS NOT NULL THEN
    RAISE EXCEPTION 'approvals can only be revoked, never changed or deleted'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER parameters_approval_guard BEFORE UPDATE OR DELETE ON parameters_approval
  FOR EACH ROW EXECUTE FUNCTION parameters_approval_guard();
"""

PG_BACKWARD = """
DROP TRIGGER IF EXISTS parameters_version_guard ON parameters_parameterversion;
DROP TRIGGER IF EXISTS parameters_audit_append_only ON parameters_auditentry;
DROP TRIGGER IF EXISTS parameters_approval_guard ON parameters_approval;
DROP FUNCTION IF EXISTS parameters_version_guard();
DROP FUNCTION IF EXISTS parameters_append_only();
DROP FUNCTION IF EXISTS parameters_approval_guard();
"""

SQLITE_FORWARD = [
    f"""CREATE TRIGGER parameters_version_frozen BEFORE UPDATE ON parameters_parameterversion
    WHEN OLD.state <> 'draft' AND ({' OR '.join(f'NEW.{c} IS NOT OLD.{c}' for c in FROZEN_COLUMNS)})
    BEGIN SELECT RAISE(ABORT, 'version content is frozen once submitted'); END""",
    """CREATE TRIGGER parameters_audit_no_update BEFORE UPDATE ON parameters_auditentry
    BEGIN SELECT RAISE(ABORT, 'parameters_auditentry is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER parameters_approval_guard BEFORE UPDATE ON parameters_approval
    WHEN NEW.version_id IS NOT OLD.version_id OR NEW.approver_id IS NOT OLD.approver_id OR NEW.kind IS NOT OLD.kind
      OR NEW.content_hash IS NOT OLD.content_hash OR OLD.revoked_at IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'approvals can only be revoked, never changed or deleted'); END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS parameters_version_frozen",
    "DROP TRIGGER IF EXISTS parameters_audit_no_update",
    "DROP TRIGGER IF EXISTS parameters_approval_guard",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        with schema_editor.connection.cursor() as cursor:  # no params: '%' in RAISE is not a placeholder
            for statement in [statements] if isinstance(statements, str) else statements:
                cursor.execute(statement)
    return run


class Migration(migrations.Migration):
    dependencies = [("parameters", "0001_initial")]
    operations = [
        migrations.RunPython(_run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
                             _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD})),
    ]
