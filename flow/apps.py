from django.apps import AppConfig


class FlowConfig(AppConfig):
    name = "flow"
    verbose_name = "Flow metrics"

    def ready(self) -> None:
        from backlog.services.items import wip_limit_kinds_register
        from backlog.signals import items_changed
        from flow import receivers, services

        items_changed.connect(receivers.on_items_changed, dispatch_uid="flow.on_items_changed")
        wip_limit_kinds_register(services.wip_limit_kinds)
