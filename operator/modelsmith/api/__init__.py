"""The modelsmith.io/v1alpha1 API: pydantic models that are the source of the CRDs.

One module per kind (benchmark, intake, run, gate); shared types in common; the CRD generator
in crdgen, the JSON Schema to structural schema translation it uses in structural.
"""
