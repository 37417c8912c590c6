"""The REST API (DRF): tokens, views that parse, call the use cases and report."""
