"""Pages of the Nexus events (namespace `events`): the Nexus board of the Nexus Daily Scrum, its "show
more" fragment, and the ready buffer panel of the Product Backlog page (Nexus Sprint Planning)."""

from django.urls import path

from events import views

app_name = "events"

urlpatterns = [
    path("n/<slug:slug>/board/", views.board, name="board"),
    path("n/<slug:slug>/board/columns/<int:column_id>/cards/", views.board_cards, name="board-cards"),
    path("n/<slug:slug>/ready-buffer/", views.ready_buffer, name="ready-buffer"),
]
