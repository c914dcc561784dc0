"""manage.py setup_demo_users: one user per role, for trying the app locally. Prints passwords."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from curation.roles import ROLES, ensure_role_groups


class Command(BaseCommand):
    help = "Create (or reset) demo users: viewer, merchandiser, data_scientist and admin."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password", help="use this password for all (default: random, printed)"
        )

    def handle(self, *args, **options):
        rows = []
        groups = ensure_role_groups()
        for role in ROLES:
            password = options["password"] or secrets.token_urlsafe(9)
            user, _ = User.objects.get_or_create(username=role)
            user.set_password(password)
            user.is_staff = user.is_superuser = role == "admin"
            user.save()
            user.groups.set([groups[role]])
            rows.append((role, password))
        self.stdout.write("Demo users (log in at http://127.0.0.1:8000/login/):")
        for role, password in rows:
            self.stdout.write(f"  {role:<16} password: {password}")
