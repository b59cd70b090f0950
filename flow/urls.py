from django.urls import path

from flow import api, ready, views

app_name = "flow"

urlpatterns = [
    path("n/<slug:slug>/board/", views.board, name="board"),
    path("n/<slug:slug>/ready-buffer/", ready.ready_buffer, name="ready-buffer"),
    path("n/<slug:slug>/flow/", views.flow_page, name="flow"),
    path("n/<slug:slug>/flow/settings/", views.flow_settings, name="settings"),
    path("n/<slug:slug>/flow/<str:table>.csv", views.flow_csv, name="flow-csv"),
    path("api/v1/nexuses/<slug:slug>/flow/", api.FlowView.as_view(), name="api-flow"),
]
