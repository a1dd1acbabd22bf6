"""specpy.remote: the ZeroMQ wire, broker, service-side worker, client proxy and CURVE keys."""
