from django.urls import path

from flow import views

app_name = "flow"

urlpatterns = [
    path("n/<slug:slug>/board/", views.board, name="board"),
]
