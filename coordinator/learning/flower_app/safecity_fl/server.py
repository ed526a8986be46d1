from coordinator.learning.server_app import app

__all__ = ["app"]
