"""Domain declarations: what each domain publishes and subscribes to.

One YAML file per domain, next to its deployments (`deployments/<domain>.yaml`):

```yaml
domain: customer-master
publishes:
  - type: customer-master.completed
subscribes:
  - event: ingestion.completed            # the event type
    source: ingestion                     # optional; defaults to the type's domain
    filter: {region: [north, south]}      # optional; on the event's data (dotted paths)
    deployment: build-customer-master/customer-master
    parameters:
      snapshot_date: "{{ event.data.snapshot_date }}"
```

A mistake is refused at load with a `ConfigError` naming the file, the field and what was expected.
"""

from __future__ import annotations

from prefect_federation.declarations.loading import (
    build_federation,
    load_declaration,
    load_federation,
)
from prefect_federation.declarations.models import (
    DEPLOYMENT_PATTERN,
    DomainDeclaration,
    Expectation,
    Federation,
    Join,
    Publication,
    Subscription,
    WorkPool,
)

__all__ = [
    "DEPLOYMENT_PATTERN",
    "DomainDeclaration",
    "Expectation",
    "Federation",
    "Join",
    "Publication",
    "Subscription",
    "WorkPool",
    "build_federation",
    "load_declaration",
    "load_federation",
]
