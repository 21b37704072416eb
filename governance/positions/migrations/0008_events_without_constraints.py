"""Margin events without database constraints or indexes on their position and account.

Every event is inserted by `events_append` from the row the same statement has just
re-margined, and the outbox is read by `seq` only. The two deferred foreign-key checks (each a
row lock on the position or account) and the two index entries cost ~20 ms of a 50,000-position
chunk with ~1,300 events (the append: 31-37 ms -> 13-15 ms, on the 1M bench book)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('positions', '0007_chunks_of_part_of_a_scope'),
    ]

    operations = [
        migrations.AlterField(
            model_name='marginevent',
            name='account',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='positions.account'),
        ),
        migrations.AlterField(
            model_name='marginevent',
            name='position',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='events', to='positions.position'),
        ),
    ]
