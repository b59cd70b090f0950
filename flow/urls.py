from django.urls import path

from flow import ready, views

app_name = "flow"

urlpatterns = [
    path("n/<slug:slug>/board/", views.board, name="board"),
    path("n/<slug:slug>/ready-buffer/", ready.ready_buffer, name="ready-buffer"),
]
