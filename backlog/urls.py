from django.urls import path

from backlog import views, views_backlog

app_name = "backlog"

urlpatterns = [
    path("", views.root, name="root"),
    path("n/<slug:slug>/", views.nexus_home, name="nexus-home"),
    path("n/<slug:slug>/changes/", views.nexus_changes, name="nexus-changes"),
    path("n/<slug:slug>/backlog/", views_backlog.backlog_page, name="backlog-list"),
    path("n/<slug:slug>/backlog/rows/", views_backlog.backlog_rows, name="backlog-rows"),
    path("n/<slug:slug>/backlog/goal/", views_backlog.goal_panel, name="goal-panel"),
    path("n/<slug:slug>/backlog/items/new/", views_backlog.pbi_create_inline, name="pbi-create"),
    path("n/<slug:slug>/backlog/items/<int:pk>/", views_backlog.pbi_detail, name="pbi-detail"),
    path("n/<slug:slug>/backlog/items/<int:pk>/move/", views_backlog.pbi_move_view, name="pbi-move"),
    path("n/<slug:slug>/backlog/items/<int:pk>/split/", views_backlog.pbi_split_view, name="pbi-split"),
    path("n/<slug:slug>/backlog/items/<int:pk>/ready/", views_backlog.pbi_mark_ready, name="pbi-ready"),
]
