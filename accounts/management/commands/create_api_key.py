"""Create an API key for a user; the key is printed alone on the last line."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.actor import Actor
from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for USERNAME and print it (it is shown only once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="A name to recognise the key by.")
        parser.add_argument("--create-user", action="store_true", help="Create the user if it does not exist.")

    def handle(self, *args: Any, username: str, name: str, create_user: bool, **options: Any) -> None:
        User = get_user_model()
        username = username.strip()
        if not username or "\x00" in username or len(username) > 150:
            raise CommandError("USERNAME must be 1–150 characters.")
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"No user named {username!r}; pass --create-user to create one.")
            user = User.objects.create_user(username=username, password=secrets.token_urlsafe(24))
            self.stdout.write(f"Created user {username!r} (no usable password is printed; reset it to sign in).")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive.")
        key, raw = api_key_create(user=user, name=name, actor=Actor.system_job("create_api_key command"))
        self.stdout.write(f"Created API key {key.name!r} for {username}. Store it now; it is not shown again:")
        self.stdout.write(raw)
