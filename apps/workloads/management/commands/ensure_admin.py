import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _


class Command(BaseCommand):
    help = (
        "Create the admin user if there is none. The password comes from "
        "TINYFORGE_ADMIN_PASSWORD, or is generated and printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("TINYFORGE_ADMIN_USER", "admin"))

    def handle(self, *args, **options):
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            self.stdout.write(_("An admin user exists already."))
            return
        password = os.environ.get("TINYFORGE_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.create_superuser(options["username"], "", password)
        if os.environ.get("TINYFORGE_ADMIN_PASSWORD"):
            self.stdout.write(_("Created admin user '%(user)s' with the password from "
                                "TINYFORGE_ADMIN_PASSWORD.") % {"user": options["username"]})
        else:
            self.stdout.write(_("Created admin user '%(user)s' with password: %(password)s "
                                "(shown once)") % {"user": options["username"],
                                                   "password": password})
