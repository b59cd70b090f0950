from django.apps import AppConfig


class FlowConfig(AppConfig):
    name = "flow"
    verbose_name = "Flow metrics"

    def ready(self) -> None:
        from backlog.signals import items_changed
        from flow import receivers

        items_changed.connect(receivers.on_items_changed, dispatch_uid="flow.on_items_changed")
