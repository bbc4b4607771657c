from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """Our own user model from day one, so fields can be added without a painful migration."""
