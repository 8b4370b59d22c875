// Command crm-ferretdb runs FerretDB v1 embedded, speaking the MongoDB wire protocol over a
// SQLite data directory. It is the local stand-in for MongoDB used by `crm-stack up`
// (see docs/decisions/0002-ferretdb-embedded.md). Development use only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (host:port)")
	dataDir := flag.String("data-dir", "", "directory holding the SQLite databases (created if missing)")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	flag.Parse()

	if err := run(*listen, *dataDir, *logLevel); err != nil {
		fmt.Fprintf(os.Stderr, "crm-ferretdb: %v\n", err)
		os.Exit(1)
	}
}

func run(listen, dataDir, logLevel string) error {
	if dataDir == "" {
		return errors.New("-data-dir is required")
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("bad -log-level %q: %w", logLevel, err)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("data dir %q: %w", dataDir, err)
	}

	// SQLiteURL must name an existing directory and end with a slash.
	if err = os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("data dir %q: %w", abs, err)
	}

	// FerretDB itself listens on a private unix socket; clients reach it through the proxy that
	// runs write commands one at a time (see serialize.go).
	socket := filepath.Join(os.TempDir(), fmt.Sprintf("crm-ferretdb-%d.sock", os.Getpid()))
	_ = os.Remove(socket)
	defer os.Remove(socket)

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{Unix: socket},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	logger.Info("crm-ferretdb starting", slog.String("listen", listen), slog.String("data_dir", abs))

	proxy := &serializer{backend: socket, logger: logger}
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	go func() {
		if err := proxy.serve(ln); err != nil {
			logger.Error("proxy stopped", slog.String("error", err.Error()))
			stop()
		}
	}()

	// Run blocks until ctx is canceled, then closes the listener, connections and the backend.
	if err = f.Run(ctx); err != nil {
		return err
	}

	logger.Info("crm-ferretdb stopped")

	return nil
}
