//go:build tools

// Pins helm's command package so `go build helm.sh/helm/v3/cmd/helm` resolves here.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
