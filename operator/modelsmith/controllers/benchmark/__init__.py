"""The Benchmark controller: `decide` turns the object and its scenarios into status, `act`
reads and writes, `reconcile` runs one pass."""
