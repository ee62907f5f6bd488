"""kopf registrations, one module per kind: each turns watch events into reconcile requests for
its controller (modelsmith.controllers). `modelsmith.operator` imports every module here, which
registers them with kopf."""
