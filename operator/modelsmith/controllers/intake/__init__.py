"""The ModelIntake controller: `observe` reads what the intake names, `decide` turns that into
checks and status, `act` writes it, `reconcile` runs one pass."""
