"""Re-margining a position whose status stays put becomes a HOT update (no index entries to write).

A rollout rewrites every computed column and the stamp of every position. PostgreSQL can
update a row in place on its page, without touching any index ("heap-only tuple"), only
when no indexed column changes and the page has room for the new version. So:

- the stamp's foreign keys (contract_version, exchange_version, rollout) lose their indexes:
  they change on every rollout and nothing looks positions up by them; the account's own
  index goes too, the unique (account, symbol) index leads with it. Only the indexes go:
  the foreign-key constraints stay as they are (Django's AlterField would drop and re-add
  and so re-validate them, a scan of the whole book each).
- fillfactor 50: a rollout updates every row of a page in one transaction, so the page
  needs room for a new version of each of its rows; at 80 only about a third of them fit
  (measured: 100% HOT at 50, 35-45% at 80, on the 200,000-position bench book). The space
  a table would otherwise need for the dead versions between vacuums anyway.

The fillfactor applies to pages written from now on; existing rows move to such pages as
they are updated (a `VACUUM FULL positions_position` applies it at once, under an
exclusive lock).
"""
from django.db import migrations, models
import django.db.models.deletion

# The names 0001 gave them (Django's deterministic index names, the same on every backend).
INDEXES = {
    "account_id": "positions_position_account_id_209a8a90",
    "contract_version_id": "positions_position_contract_version_id_569381e2",
    "exchange_version_id": "positions_position_exchange_version_id_65b47280",
    "rollout_id": "positions_position_rollout_id_d075cba0",
}
FILLFACTOR = 50


def fillfactor_set(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE positions_position SET (fillfactor = {FILLFACTOR})")


def fillfactor_reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE positions_position RESET (fillfactor)")


class Migration(migrations.Migration):

    dependencies = [
        ('parameters', '0002_database_guards'),
        ('positions', '0002_events_sequence_impact_preview'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(f'DROP INDEX IF EXISTS "{name}"',
                                  f'CREATE INDEX IF NOT EXISTS "{name}" ON "positions_position" ("{column}")')
                for column, name in INDEXES.items()
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='position',
                    name='account',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='positions', to='positions.account'),
                ),
                migrations.AlterField(
                    model_name='position',
                    name='contract_version',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='parameters.parameterversion'),
                ),
                migrations.AlterField(
                    model_name='position',
                    name='exchange_version',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='parameters.parameterversion'),
                ),
                migrations.AlterField(
                    model_name='position',
                    name='rollout',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='positions.rollout'),
                ),
            ],
        ),
        migrations.RunPython(fillfactor_set, fillfactor_reset),
    ]
