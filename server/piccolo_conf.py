"""Piccolo's configuration: the engine comes from Fieldpace's settings (FIELDPACE_DATABASE_URL)."""

from piccolo.conf.apps import AppRegistry

from server.db import make_engine
from server.settings import Settings

DB = make_engine(Settings.from_env().effective_database_url)

APP_REGISTRY = AppRegistry(apps=["server.piccolo_app"])
