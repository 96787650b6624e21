"""For the `piccolo` command line run from the repository root (e.g. `piccolo migrations new fieldpace --auto`)."""

from server.piccolo_conf import APP_REGISTRY, DB  # noqa: F401 - re-exported: the piccolo command reads them from here
