from django.apps import AppConfig


class BacklogConfig(AppConfig):
    name = "backlog"
    verbose_name = "Nexus and Product Backlog"

    def ready(self) -> None:
        from backlog.services import webhooks
        from backlog.signals import item_event

        item_event.connect(webhooks.on_item_event, dispatch_uid="backlog.webhooks.on_item_event")
