"""Margin events are written once, already numbered (`remargin.events_append`).

Before, a chunk inserted its events and numbered them with an UPDATE at the end of its
transaction: every event was written twice, the second time into eight indexes. Now:

- `seq` is never empty, and the partial index that found the unnumbered events goes;
- the stamp's keys (versions, rollout) lose their constraints and indexes, as the position's
  own stamp did in 0004: they are copied from the position's row, nothing reads events by
  them, and each constraint is a check per event, made under the numbering lock.

Events are numbered in the transaction that writes them, so no committed event lacks a
number and `seq` can be made NOT NULL as it is.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('parameters', '0002_database_guards'),
        ('positions', '0004_stamp_without_constraints'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='marginevent',
            name='event_unsequenced_idx',
        ),
        migrations.AlterField(
            model_name='marginevent',
            name='contract_version',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='parameters.parameterversion'),
        ),
        migrations.AlterField(
            model_name='marginevent',
            name='exchange_version',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='parameters.parameterversion'),
        ),
        migrations.AlterField(
            model_name='marginevent',
            name='rollout',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='positions.rollout'),
        ),
        migrations.AlterField(
            model_name='marginevent',
            name='seq',
            field=models.BigIntegerField(help_text="The feed's cursor: gap-free, in commit order.", unique=True),
        ),
    ]
