"""The operator's controller runtime: one `core.Runtime` per process owns the work queue, the
watch cache, the informers' feed, peering, the Event recorder, the status writer and metrics.
Importing this package builds nothing; `modelsmith.operator` constructs the runtime."""
