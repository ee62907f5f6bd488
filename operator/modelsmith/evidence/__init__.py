"""Evidence: the shared-surface sanitiser, the evidence bundle and its report, and the admission
policy that lets only the approver chain sign a PromotionGate off.

- `sanitiser`: `Sanitiser` guards every shared surface (status, Events, metric labels, bundle,
  report).
- `bundle`: `build_bundle` makes the modelsmith.io/evidence/v1 bundle; `digest` names it.
- `history`: `history_from_ledger` reads the run's every iteration from its ledger.
- `report`: `render_report` turns a bundle into one self-contained HTML page.
- `admission`: `approval_policy_manifests` / `approval_policy_yaml` for the chart and crds/.
"""
