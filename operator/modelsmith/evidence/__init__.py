"""Evidence: the shared-surface sanitiser, the evidence bundle and its report, and the admission
policy that lets only the approver chain sign a PromotionGate off.

- `sanitiser`: `Sanitiser` guards every shared surface (status, Events, metric labels, bundle,
  report, the gate's spec). Its parts: `normalise` (NFKC, format characters), `findings` (kinds,
  spans, merging), `detectors` (locations and identifiers), `hosts` (hosts, e-mail, machine
  names), `secrets` (credentials, assignments, record ids, encoded text) and `textmatch` (the
  benchmark's own texts).
- `bundle`: `build_bundle` makes the modelsmith.io/evidence/v1 bundle; `digest` names it.
  Its parts: `sections` (the pydantic models of each section) and `build_sections` (filling
  each section from the checked scorecards and the run's records).
- `history`: `history_from_ledger` reads the run's every iteration from its ledger.
- `report`: `render_report` turns a bundle into one self-contained HTML page.
- `admission`: `approval_policy_manifests` / `approval_policy_yaml` for the chart and crds/.
"""
