//go:build tools

// Pins versitygw's command package so `go build github.com/versity/versitygw/cmd/versitygw` resolves here.
package tools

import _ "github.com/versity/versitygw/cmd/versitygw"
