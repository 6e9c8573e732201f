"""The HTTP entry point: `api.app.create_app(services)` builds the FastAPI application."""
