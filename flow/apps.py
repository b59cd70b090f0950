from django.apps import AppConfig


class FlowConfig(AppConfig):
    name = "flow"
    verbose_name = "Flow metrics"

    def ready(self) -> None:
        from backlog.services.tombstones import tombstones_register
        from backlog.signals import items_changed
        from flow import receivers
        from flow.models import FLOW_SETTINGS_TOMBSTONE, FlowSettings

        items_changed.connect(receivers.on_items_changed, dispatch_uid="flow.on_items_changed")
        # A deleted scope's flow settings (a Scrum Team's go with it) leave a tombstone for sync.
        tombstones_register(FlowSettings, FLOW_SETTINGS_TOMBSTONE, lambda row: row.nexus_id)
