"""The cloud's REST API (FastAPI)."""

from docbox_cloud.api.app import create_app

__all__ = ["create_app"]
