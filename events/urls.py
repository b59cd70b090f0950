"""Pages of the Nexus events (namespace `events`): the Nexus board of the Nexus Daily Scrum, its "show
more" fragment, and the ready buffer panel of the Product Backlog page (Nexus Sprint Planning)."""

from django.urls import path

from events import views, views_team

app_name = "events"

urlpatterns = [
    path("n/<slug:slug>/board/", views.board, name="board"),
    path("n/<slug:slug>/board/columns/<int:column_id>/cards/", views.board_cards, name="board-cards"),
    path("n/<slug:slug>/ready-buffer/", views.ready_buffer, name="ready-buffer"),
    # The team board (per Scrum Team and Sprint) and its writes.
    path("n/<slug:slug>/team-board/", views_team.team_board_mine, name="team-board-mine"),
    path(
        "n/<slug:slug>/teams/<slug:team_slug>/board/",
        views_team.team_board_current,
        name="team-board-current",
    ),
    path(
        "n/<slug:slug>/sprints/<int:sprint_id>/teams/<slug:team_slug>/board/",
        views_team.team_board,
        name="team-board",
    ),
    path(
        "n/<slug:slug>/sprints/<int:sprint_id>/teams/<slug:team_slug>/board/move/",
        views_team.team_board_move,
        name="team-board-move",
    ),
    path(
        "n/<slug:slug>/sprints/<int:sprint_id>/teams/<slug:team_slug>/board/tasks/",
        views_team.team_board_task_add,
        name="team-board-task-add",
    ),
    path(
        "n/<slug:slug>/sprints/<int:sprint_id>/teams/<slug:team_slug>/board/tasks/<int:task_id>/done/",
        views_team.team_board_task_toggle,
        name="team-board-task-toggle",
    ),
]
