#!/usr/bin/env python
"""Django's command-line utility for TinyForge."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tinyforge.settings")
    from django.core.management import execute_from_command_line

    from tinyforge.proxy_settings import BadSetting

    try:
        execute_from_command_line(sys.argv)
    except BadSetting as exc:  # a bad environment value: its message says it all
        sys.exit(f"TinyForge cannot start: {exc}")


if __name__ == "__main__":
    main()
