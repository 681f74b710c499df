"""Route modules of the REST API."""
