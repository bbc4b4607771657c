from django.urls import path

from accounts import views

urlpatterns = [
    path("connected/", views.connected, name="connected"),
    path("connected/<int:account_id>/disconnect", views.disconnect, name="disconnect"),
]
