"""modelsmith_evaluator."""
