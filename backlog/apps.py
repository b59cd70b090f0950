from django.apps import AppConfig


class BacklogConfig(AppConfig):
    name = "backlog"
    verbose_name = "Nexus and Product Backlog"

    def ready(self) -> None:
        from backlog.api import examples
        from backlog.services import tombstones, webhooks
        from backlog.signals import item_event

        examples.install()  # examples of the API's bodies in the OpenAPI document

        item_event.connect(webhooks.on_item_event, dispatch_uid="backlog.webhooks.on_item_event")
        tombstones.register_backlog_models()  # deletions of synced rows leave tombstones
