"""Durable fan-in joins and absence (SLA) alerts.

- `declared`: the declaration models (`Join`, `Expectation`);
- `checks`: what `check` verifies about joins;
- `models`: the state records (a join's arrivals, an expectation instance);
- `planner`: pure decisions (the key of an event, when a join is complete, deadlines);
- `store`: the `JoinStore` role, DynamoDB's implementation and an in-memory double;
- `coordinator`: what the listener calls: record arrivals, start completed joins, sweep
  expired windows and missed deadlines, publish the alerts.

Importing this package imports neither boto3 nor Prefect.
"""
