//go:build tools

// Pins promtool's command package so `go build github.com/prometheus/prometheus/cmd/promtool` resolves here.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
