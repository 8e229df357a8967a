//go:build tools

// Pins the two commands built from k8s.io/kubernetes so `go build` resolves them in this module.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
