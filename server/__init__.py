"""Fieldpace server: the Litestar app, its domains, templates and jobs."""
