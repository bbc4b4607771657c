
urlpatterns: list = []
app_name = "exports"
