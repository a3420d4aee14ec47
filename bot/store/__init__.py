"""The service's durable state on SQLAlchemy Core, one module per concern behind the
`facade.Store` object: deliveries, jobs, sessions and threads, dispatch, leaders, counters."""
