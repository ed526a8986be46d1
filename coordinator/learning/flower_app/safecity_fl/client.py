from nodes.learning.client_app import app

__all__ = ["app"]
