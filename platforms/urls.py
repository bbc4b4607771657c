from django.urls import path

from platforms import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
