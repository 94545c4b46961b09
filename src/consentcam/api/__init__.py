"""The HTTP API (FastAPI): health and the server-sent event stream; errors mapped in one place."""
