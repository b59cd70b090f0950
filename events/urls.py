"""Pages of the Nexus events (namespace `events`): the Nexus board of the Nexus Daily Scrum, its "show
more" fragment, and the ready buffer panel of the Product Backlog page (Nexus Sprint Planning)."""

from django.urls import path

from events import (
    views,
    views_board,
    views_dependencies,
    views_dependency_reads,
    views_planning,
    views_refinement,
    views_retro,
    views_review,
    views_sprint_backlog,
    views_suggestions,
    views_team,
)

app_name = "events"

#: The address of a Sprint on the planning page.
PLAN = "n/<slug:slug>/planning/<int:sprint_id>"
#: The address of a Sprint's Nexus Sprint Retrospective.
RETRO = "n/<slug:slug>/sprints/<int:sprint_id>/retrospective"

urlpatterns = [
    path("n/<slug:slug>/board/", views_board.board, name="board"),
    path("n/<slug:slug>/board/version/", views_board.board_version, name="board-version"),
    path("n/<slug:slug>/board/timer/", views_board.board_timer, name="board-timer"),
    path("n/<slug:slug>/board/walk/", views_board.board_walk, name="board-walk"),
    path("n/<slug:slug>/board/items/<int:item_id>/", views_board.board_card, name="board-card"),
    path(
        "n/<slug:slug>/board/items/<int:item_id>/<slug:action>/",
        views_board.board_card_action,
        name="board-card-action",
    ),
    path("n/<slug:slug>/board/columns/<int:column_id>/cards/", views.board_cards, name="board-cards"),
    path("n/<slug:slug>/ready-buffer/", views.ready_buffer, name="ready-buffer"),
    # Nexus Sprint Planning and the Nexus Sprint Backlog (events/views_planning.py, views_sprint_backlog.py).
    path("n/<slug:slug>/planning/", views_planning.planning, name="planning"),
    path("n/<slug:slug>/planning/new/", views_planning.sprint_new, name="planning-new"),
    path(f"{PLAN}/plan/", views_planning.plan_add, name="planning-add"),
    path(f"{PLAN}/unplan/", views_planning.plan_remove, name="planning-remove"),
    path(f"{PLAN}/goals/", views_planning.goals_save, name="planning-goals"),
    path(f"{PLAN}/start/", views_planning.sprint_start_view, name="planning-start"),
    # Cross-Team Refinement and the Dependency board (events/views_refinement.py, views_dependencies.py).
    path("n/<slug:slug>/refinement/", views_refinement.refinement, name="refinement"),
    path(
        "n/<slug:slug>/refinement/<int:item_id>/teams/<int:team_id>/",
        views_refinement.refinement_team,
        name="refinement-team",
    ),
    path(
        "n/<slug:slug>/refinement/<int:item_id>/ready/",
        views_refinement.refinement_ready,
        name="refinement-ready",
    ),
    path(
        "n/<slug:slug>/refinement/<int:item_id>/dependencies/",
        views_refinement.refinement_dependency,
        name="refinement-dependency",
    ),
    path(
        "n/<slug:slug>/refinement/dependencies/<int:dependency_id>/status/",
        views_refinement.refinement_dependency_status,
        name="refinement-dependency-status",
    ),
    path(
        "n/<slug:slug>/refinement/<int:item_id>/split/",
        views_refinement.refinement_split,
        name="refinement-split",
    ),
    path(
        "n/<slug:slug>/refinement/<int:item_id>/suggestions/",
        views_suggestions.refinement_suggestions,
        name="refinement-suggestions",
    ),
    path(
        "n/<slug:slug>/refinement/<int:item_id>/suggestions/<int:other_id>/confirm/",
        views_suggestions.refinement_suggestion_confirm,
        name="refinement-suggestion-confirm",
    ),
    path(
        "n/<slug:slug>/refinement/<int:item_id>/suggestions/<int:other_id>/dismiss/",
        views_suggestions.refinement_suggestion_dismiss,
        name="refinement-suggestion-dismiss",
    ),
    path("n/<slug:slug>/dependencies/", views_dependencies.dependency_board, name="dependencies"),
    path(
        "n/<slug:slug>/dependencies/matrix/",
        views_dependency_reads.dependency_matrix,
        name="dependency-matrix",
    ),
    path(
        "n/<slug:slug>/dependencies/forecast/",
        views_dependency_reads.dependency_forecast,
        name="dependency-forecast",
    ),
    path("n/<slug:slug>/sprint-backlog/", views_sprint_backlog.sprint_backlog, name="sprint-backlog"),
    # The Nexus Sprint Review (events/views_review.py): a Sprint's review and its stakeholder notes.
    path("n/<slug:slug>/review/", views_review.review_latest, name="review-latest"),
    path("n/<slug:slug>/sprints/<int:sprint_id>/review/", views_review.review, name="review"),
    path(
        "n/<slug:slug>/sprints/<int:sprint_id>/review/notes/",
        views_review.review_note_add_view,
        name="review-note-add",
    ),
    path(
        "n/<slug:slug>/sprints/<int:sprint_id>/review/notes/<int:note_id>/pbi/",
        views_review.review_note_pbi_view,
        name="review-note-pbi",
    ),
    path(
        "n/<slug:slug>/sprints/<int:sprint_id>/review/notes/<int:note_id>/link/",
        views_review.review_note_link_view,
        name="review-note-link",
    ),
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
    # The Nexus Sprint Retrospective (events/views_retro.py).
    path("n/<slug:slug>/retrospective/", views_retro.retrospective_latest, name="retrospective-latest"),
    path(f"{RETRO}/", views_retro.retrospective, name="retrospective"),
    path(f"{RETRO}/issues/", views_retro.retro_issue_add, name="retro-issue-add"),
    path(f"{RETRO}/team-items/", views_retro.retro_team_item_add, name="retro-team-item-add"),
    path(f"{RETRO}/items/<int:item_id>/delete/", views_retro.retro_item_delete, name="retro-item-delete"),
    path(f"{RETRO}/actions/", views_retro.retro_action_agree, name="retro-action-agree"),
    path(
        f"{RETRO}/actions/<int:action_id>/status/",
        views_retro.retro_action_status,
        name="retro-action-status",
    ),
    path(f"{RETRO}/workflow/", views_retro.retro_column_add, name="retro-column-add"),
    path(f"{RETRO}/workflow/<int:column_id>/", views_retro.retro_column_update, name="retro-column-update"),
    path(
        f"{RETRO}/workflow/<int:column_id>/delete/",
        views_retro.retro_column_delete,
        name="retro-column-delete",
    ),
]
