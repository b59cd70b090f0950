from django.urls import path

from backlog import views

app_name = "backlog"

urlpatterns = [
    path("", views.root, name="root"),
    path("n/<slug:slug>/", views.nexus_home, name="nexus-home"),
    path("n/<slug:slug>/backlog/", views.backlog_list, name="backlog-list"),
]
