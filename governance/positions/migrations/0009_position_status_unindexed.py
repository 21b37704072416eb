"""The status of a position loses its index: a rollout that changes a status updates it in place.

An update is heap-only (HOT, see 0003) only when no indexed column changes. With `status`
indexed, every position whose status a rollout changed was written again in full: a new
entry in each of the table's four indexes, and after a checkpoint a full-page image of each
index page touched. On the 1M bench book an exchange-wide multiplier change moves ~27,000
positions (2.7%) between statuses; with the index that added 22,000 full-page images and
46-52 MB (14-16%) of WAL to the rollout, and the rollout took 8% longer (7.05, 6.89, 7.03, 6.89 s
against 6.50, 6.44, 6.37, 6.35 s, alternating). A stressed market moves more positions, and
so would cost more.

What looked positions up by status, the API's `?status=` and the admin's filter, read the
positions by id and keep those of the status: a page of a status that ~1% of the book has
reads ~10,000 rows (5 ms at 1M); a status no position has reads the whole book (~130 ms at
1M). The risk engine follows status changes through the margin events, not this filter.
"""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('positions', '0008_events_without_constraints'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='position',
            name='position_status_idx',
        ),
    ]
