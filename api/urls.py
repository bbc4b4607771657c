from django.urls import path

from api import views

urlpatterns = [
    path("api-tokens/", views.token_list, name="api-tokens"),
    path("api-tokens/<int:token_id>/revoke", views.token_revoke, name="api-token-revoke"),
    path("webhooks/", views.webhook_list, name="webhooks"),
    path("webhooks/<int:endpoint_id>/delete", views.webhook_remove, name="webhook-delete"),
    path("destinations/", views.destination_list, name="destinations"),
    path("destinations/<int:destination_id>/", views.destination_change, name="destination-change"),
    path("destinations/<int:destination_id>/delete", views.destination_remove, name="destination-delete"),
]
