"""The streaming service: the watch protocol (``protocol``); the FastAPI app, session
runtimes and storage follow (see ``docs/architecture.md``)."""
