"""One Blueprint per domain. Handlers only parse, authorize, call a service and render."""
