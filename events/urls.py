"""Pages of the Nexus events (namespace `events`): the Nexus board of the Nexus Daily Scrum, its "show
more" fragment, and the ready buffer panel of the Product Backlog page (Nexus Sprint Planning)."""

from django.urls import path

from events import views, views_planning, views_sprint_backlog

app_name = "events"

#: The address of a Sprint on the planning page.
PLAN = "n/<slug:slug>/planning/<int:sprint_id>"

urlpatterns = [
    path("n/<slug:slug>/board/", views.board, name="board"),
    path("n/<slug:slug>/board/columns/<int:column_id>/cards/", views.board_cards, name="board-cards"),
    path("n/<slug:slug>/ready-buffer/", views.ready_buffer, name="ready-buffer"),
    # Nexus Sprint Planning and the Nexus Sprint Backlog (events/views_planning.py, views_sprint_backlog.py).
    path("n/<slug:slug>/planning/", views_planning.planning, name="planning"),
    path("n/<slug:slug>/planning/new/", views_planning.sprint_new, name="planning-new"),
    path(f"{PLAN}/plan/", views_planning.plan_add, name="planning-add"),
    path(f"{PLAN}/unplan/", views_planning.plan_remove, name="planning-remove"),
    path(f"{PLAN}/goals/", views_planning.goals_save, name="planning-goals"),
    path(f"{PLAN}/start/", views_planning.sprint_start_view, name="planning-start"),
    path("n/<slug:slug>/sprint-backlog/", views_sprint_backlog.sprint_backlog, name="sprint-backlog"),
]
