"""The IterationRun controller: observe its Job and records, decide (`loop`), act, write status."""
