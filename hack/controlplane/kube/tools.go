//go:build tools

// Package tools pins the Kubernetes commands this module builds. k8s.io/kubernetes replaces its
// staging modules with relative paths, so its commands cannot be installed with `go install`;
// go.mod here requires k8s.io/kubernetes and pins every staging module to its v0.x release.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
