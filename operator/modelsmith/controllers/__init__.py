"""Controllers, one package per kind: pure observe/decide, a thin act, status."""
