# The kinds of the Nexus's and the Scrum Teams' WIP limits move from `FlowSettings` to `backlog`
# (`Nexus.wip_limit_kind`, `ScrumTeam.wip_limit_kind`, added by backlog 0010): they are part of the
# Definition of Workflow. The copy runs here, in flow, before the field is dropped, because `backlog`
# never names `flow` (not even in a migration). Reversible: backwards, the field comes back and the
# kinds are copied into the rows there are (a scope with a hard kind but no settings row gets one, with
# the default SLE, so no kind is lost).

from django.db import migrations, models


def kinds_to_backlog(apps, schema_editor):
    FlowSettings = apps.get_model("flow", "FlowSettings")
    Nexus = apps.get_model("backlog", "Nexus")
    ScrumTeam = apps.get_model("backlog", "ScrumTeam")
    for row in FlowSettings.objects.exclude(wip_limit_kind="soft").only("nexus_id", "team_id", "wip_limit_kind"):
        if row.team_id is None:
            Nexus.objects.filter(pk=row.nexus_id).update(wip_limit_kind=row.wip_limit_kind)
        else:
            ScrumTeam.objects.filter(pk=row.team_id).update(wip_limit_kind=row.wip_limit_kind)


def kinds_to_flow(apps, schema_editor):
    FlowSettings = apps.get_model("flow", "FlowSettings")
    Nexus = apps.get_model("backlog", "Nexus")
    ScrumTeam = apps.get_model("backlog", "ScrumTeam")
    for nexus_id in Nexus.objects.exclude(wip_limit_kind="soft").values_list("pk", flat=True):
        FlowSettings.objects.update_or_create(
            nexus_id=nexus_id, team=None, defaults={"wip_limit_kind": "hard"}
        )
    for team_id, nexus_id in ScrumTeam.objects.exclude(wip_limit_kind="soft").values_list("pk", "nexus_id"):
        FlowSettings.objects.update_or_create(
            nexus_id=nexus_id, team_id=team_id, defaults={"wip_limit_kind": "hard"}
        )


class Migration(migrations.Migration):

    dependencies = [
        ('backlog', '0011_wip_limit_kind_nexus_team'),
        ('flow', '0002_snapshots_settings'),
    ]

    operations = [
        migrations.RunPython(kinds_to_backlog, kinds_to_flow),
        migrations.RemoveField(
            model_name='flowsettings',
            name='wip_limit_kind',
        ),
    ]
