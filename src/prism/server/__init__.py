"""The streaming service: the FastAPI app, the live sessions and their pipelines (see
``docs/service.md``). The watch protocol it speaks is :mod:`prism.protocol`."""
