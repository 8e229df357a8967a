// Wrapper around FerretDB 2's embeddable package (the same reason as ../ferretdb: cmd/ferretdb expects
// generated build files the module proxy does not carry). FerretDB 2 stores nothing itself: it speaks the
// MongoDB wire protocol and runs every command in PostgreSQL through the DocumentDB extension.
// Telemetry is switched off (and DO_NOT_TRACK is set by test/env).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/v2/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	stateDir := flag.String("state-dir", "state", "directory for FerretDB's state.json")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	flag.Parse()

	// The PostgreSQL URL comes from the environment: it may carry a password, and argv is world-readable.
	pgURL := os.Getenv("FERRETDB_POSTGRESQL_URL")
	if pgURL == "" {
		fmt.Fprintln(os.Stderr, "FERRETDB_POSTGRESQL_URL is not set")
		os.Exit(2)
	}

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "bad -log-level:", err)
		os.Exit(2)
	}

	if err := os.MkdirAll(*stateDir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}

	telemetry := false
	f, err := ferretdb.New(&ferretdb.Config{
		PostgreSQLURL: pgURL,
		ListenAddr:    *listen,
		StateDir:      *stateDir,
		LogLevel:      lvl,
		LogOutput:     os.Stderr,
		Telemetry:     &telemetry,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintln(os.Stderr, "ferretdb 2 listening on", f.MongoDBURI())
	f.Run(ctx)
}
