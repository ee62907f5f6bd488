"""modelsmith_trainer."""
