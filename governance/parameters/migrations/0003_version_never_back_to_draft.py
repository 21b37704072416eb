"""A version that has left the draft state never returns to it.

0002 freezes a version's content once it is no longer a draft. Setting its state back to
'draft' lifted the freeze: state to draft, new content, state back, and the content the
committee approved was another. The guard now refuses the way back as well.
"""
from importlib import import_module

from django.db import migrations

_0002 = import_module("governance.parameters.migrations.0002_database_guards")
FROZEN_COLUMNS, vendor_run = _0002.FROZEN_COLUMNS, _0002._run

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
  IF OLD.state <> 'draft' AND NEW.state = 'draft' THEN
    RAISE EXCEPTION 'version % of subject % is %: it cannot return to draft', OLD.number, OLD.subject_id, OLD.state
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF OLD.state <> 'draft' AND ({' OR '.join(f'NEW.{c} IS DISTINCT FROM OLD.{c}' for c in FROZEN_COLUMNS)}) THEN
    RAISE EXCEPTION 'version % of subject % is %: its content is frozen', OLD.number, OLD.subject_id, OLD.state
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
"""

SQLITE_FORWARD = [
    """CREATE TRIGGER parameters_version_no_draft_again BEFORE UPDATE ON parameters_parameterversion
    WHEN OLD.state <> 'draft' AND NEW.state = 'draft'
    BEGIN SELECT RAISE(ABORT, 'a version that has left the draft state cannot return to draft'); END""",
]

SQLITE_BACKWARD = ["DROP TRIGGER IF EXISTS parameters_version_no_draft_again"]


class Migration(migrations.Migration):
    dependencies = [("parameters", "0002_database_guards")]
    operations = [
        # backwards on PostgreSQL the function keeps the stricter check: it refuses nothing 0002
        # allowed that the services ever do
        migrations.RunPython(vendor_run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
                             vendor_run({"sqlite": SQLITE_BACKWARD})),
    ]
