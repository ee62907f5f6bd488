"""Modelsmith: governed model specialisation inside the customer's own Kubernetes cluster."""

GROUP = "modelsmith.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
