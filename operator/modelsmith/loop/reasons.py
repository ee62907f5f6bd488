"""The CamelCase reason codes a decision carries (status, Events, ledger)."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # Starting and waiting.
    INTAKE_NOT_READY = "IntakeNotReady"
    INTAKE_READY = "IntakeReady"
    AWAITING_JOB = "AwaitingJob"
    JOB_PENDING = "JobPending"
    JOB_RUNNING = "JobRunning"
    EVIDENCE_UNAVAILABLE = "EvidenceUnavailable"
    # The loop's decisions.
    BASELINE_EVALUATED = "BaselineEvaluated"
    TRAINING_COMPLETED = "TrainingCompleted"
    TRAINING_RESUMED = "TrainingResumed"
    """A training attempt continued from a checkpoint (a ledger decision, never a phase)."""
    CANDIDATE_ACCEPTED = "CandidateAccepted"
    CANDIDATE_REJECTED = "CandidateRejected"
    THRESHOLD_CLEARED = "ThresholdCleared"
    THRESHOLD_NOT_MET = "ThresholdNotMet"
    # Promotion.
    AWAITING_GATE = "AwaitingGate"
    GATE_CREATED = "GateCreated"
    GATE_PENDING = "GatePending"
    GATE_APPROVED = "GateApproved"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    GATE_REJECTED = "GateRejected"
    GATE_BLOCKED = "GateBlocked"
    # Documented stops.
    PLATEAU = "Plateau"
    MAX_ITERATIONS_REACHED = "MaxIterationsReached"
    BUDGET_EXHAUSTED = "BudgetExhausted"
    DEADLINE_PASSED = "DeadlinePassed"
    # Jobs going wrong.
    JOB_FAILED_RETRYING = "JobFailedRetrying"
    RETRY_BUDGET_EXHAUSTED = "RetryBudgetExhausted"
    UNSCHEDULABLE = "Unschedulable"
    # Kueue: waiting in a queue is no failure; a queue that cannot admit is a block.
    QUEUED = "Queued"
    PREEMPTED = "Preempted"
    QUEUE_INADMISSIBLE = "QueueInadmissible"
    OBJECT_STORE_UNAVAILABLE = "ObjectStoreUnavailable"
    CONTAMINATION = "Contamination"
    BAD_SPEC = "BadSpec"
    MODEL_MISSING = "ModelMissing"
    MODEL_CORRUPT = "ModelCorrupt"
    EMPTY_SPLIT = "EmptySplit"
    MALFORMED_CRITERION = "MalformedCriterion"
    # Governance: whose Job it is, and where the operator may act.
    JOB_NAME_TAKEN = "JobNameTaken"
    OPERATOR_NOT_PERMITTED = "OperatorNotPermitted"
    CREDENTIAL_REPLACED = "CredentialReplaced"
    """A Job found a store credential the operator did not mint (contract/storecredential)."""
    # Governance of what the store holds (modelsmith.contract.integrity).
    EVIDENCE_TAMPERED = "EvidenceTampered"
    # Governance of where Jobs run (checked before every launch).
    EXECUTION_TARGET_NOT_ALLOWED = "ExecutionTargetNotAllowed"
    EXECUTION_TARGET_MISSING = "ExecutionTargetMissing"
    # A reconcile that raised (modelsmith.runtime.errors): the next reconcile retries it.
    STORED_OBJECT_INVALID = "StoredObjectInvalid"
    EVIDENCE_REFUSED = "EvidenceRefused"
    EVIDENCE_INCOMPLETE = "EvidenceIncomplete"
    OBJECT_STORE_ERROR = "ObjectStoreError"
    API_REFUSED = "ApiRefused"
    API_UNAVAILABLE = "ApiUnavailable"
    INTERNAL_ERROR = "InternalError"
    # The run's pinned inputs (loop/pinning.py).
    INTAKE_MISSING = "IntakeMissing"
    INTAKE_CHANGED = "IntakeChanged"
    BENCHMARK_MISSING = "BenchmarkMissing"
    # A person pausing and resuming the run (spec.suspend).
    SUSPENDED = "Suspended"
    RESUMED = "Resumed"
