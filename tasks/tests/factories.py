from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from sponsors.models import Sponsor
from tasks.models import POSITION_GAP, Task


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")


class SponsorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sponsor

    name = factory.Sequence(lambda n: f"Sponsor {n}")
    contact_email = factory.LazyAttribute(lambda o: f"contact{o.name.split()[-1]}@example.com")


class TaskFactory(factory.django.DjangoModelFactory):
    """A task written straight to the table (no audit); positions follow creation order."""

    class Meta:
        model = Task

    title = factory.Sequence(lambda n: f"Task {n}")
    status = Task.Status.TODO
    priority = Task.Priority.MEDIUM
    position = factory.Sequence(lambda n: (n + 1) * POSITION_GAP)
