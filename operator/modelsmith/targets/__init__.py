"""Admin-owned execution targets: the rule deciding whether an intake may use one (`rules`),
and the admission policy that enforces the same rule at apply time (`admission`)."""
