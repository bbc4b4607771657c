from django.urls import path

from library import views

app_name = "library"

urlpatterns = [
    path("", views.library_page, name="home"),
    path("media/<int:media_pk>", views.media_file, name="media"),
    path("<slug:platform>/<str:record_id>/", views.record_page, name="record"),
]
