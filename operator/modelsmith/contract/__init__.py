"""The contract between the operator and its trainer and evaluator images: everything both sides
read or write, and the only part of `modelsmith` the images import. Nothing here imports kopf,
kubernetes or prometheus-client, so the images install without them
(tests/unit/test_contract_boundary.py holds the rule).

- `jobspec`: the Job specs the operator writes and the reports a Job writes back (progress,
  lineage, result, termination message).
- `recipe`: the training recipe, its fields and bounds defined once; the API's and the loop's
  recipes derive from it.
- `scorecard`: the evaluator's scorecard, one model for the writer and every reader.
- `scenario`: a benchmark scenario in its wire form, as the evaluator reads it.
- `prompting`, `heldout`: how a scenario becomes a prompt, and the held-out fingerprint the
  trainer checks its training data against.
- `criteria`: scoring an answer against a scenario's criteria. It lives here, not beside the
  operator's benchmark analysis, because the evaluator scores with it: the operator (benchmark
  challenges, admission) imports the same code, so a criterion means the same on both sides.
- `exitcodes`: what a Job's exit status means.
- `storecredential`: a Job's check that its store credential is the one the operator minted.
- `integrity`: the digests a Job reports of what it wrote, and the operator's checks of what it
  reads back against them.
- `layout`: where a run's objects live in the store.
- `s3`, `readlimits`, `objectstore`: the object-store client (transport, URIs and typed errors;
  read limits and confinement; reads and writes through the one `objectstore.Store` a process
  makes and hands on).

Outside this package the contract imports only `modelsmith.api`, the pydantic models the CRDs
are generated from (the scenario's criteria, the wire base model): pure models that import
pydantic and each other, nothing of the operator's runtime.
"""
