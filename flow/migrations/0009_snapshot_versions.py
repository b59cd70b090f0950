from django.db import migrations, models

ROWS = "raised by one by each incremental update of this scope's rows"
SUMMARIES = "the rows' version the figures and detail were made from"


class Migration(migrations.Migration):
    """`FlowSnapshot.rows_version` and `summaries_version`. The snapshots already stored get 1 and 0
    (the next refresh makes each scope's summaries again, as it did before these fields), new ones 0."""

    dependencies = [
        ("flow", "0008_flowstate_full_needed"),
    ]

    operations = [
        migrations.AddField(
            model_name="flowsnapshot",
            name="rows_version",
            field=models.IntegerField(default=1, help_text=ROWS),
        ),
        migrations.AlterField(
            model_name="flowsnapshot",
            name="rows_version",
            field=models.IntegerField(default=0, help_text=ROWS),
        ),
        migrations.AddField(
            model_name="flowsnapshot",
            name="summaries_version",
            field=models.IntegerField(default=0, help_text=SUMMARIES),
        ),
    ]
