"""Import first in a benchmark that uses Django models outside a server: sets Django up."""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
