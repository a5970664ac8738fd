"""One route module per resource of the HTTP API."""
