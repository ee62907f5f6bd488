"""The PromotionGate controller: judge the approver chain, promote once, roll back on request.

The run controller creates the gate; people sign it off with annotations (see api/gate.py). A
gate that is not the one its run staged is flagged and left alone (`guard`). Each reconcile
(`reconcile`) reads the gate, asks `decide` (pure; the chain is judged in `approvals`) what to
do, and `act` does it. Once every role has approved:

1. the promotion record is written once to the object store, beside the evidence bundle
   (evidence/promotion-record.json), its digest recorded in status.recordDigest first; when it
   already exists (a restart half-way) the stored one is used only if it has that digest (else
   EvidenceTampered, contract.integrity), so the record, its digest and the status mirroring
   it never change (`records`);
2. the serving pointer is updated, to a value computed from the gate's spec (never read back
   from the record);
3. status becomes Promoted with the record's digest (a CEL rule keeps it from ever changing).

Rollback: the annotation modelsmith.io/rollback: "<username>" on a Promoted gate writes a
rollback record once (evidence/rollback-record.json), restores data[<key>] from
data[<key>.previous] and makes the gate RolledBack. Rollback refuses to touch a pointer that no
longer names this candidate (a later promotion followed): it fails with a Warning instead.

A rejection is final for the gate, like a promotion or a rollback: a new candidate gets a new
gate. Every state change requeues the owning IterationRun, which follows the gate (`status`).
"""

PLURAL = "promotiongates"
RUNS = "iterationruns"
