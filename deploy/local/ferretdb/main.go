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
	synchronous := flag.String("synchronous", "normal",
		"SQLite synchronous setting: normal (sync the WAL at checkpoints) or full (at every commit)")
	flag.Parse()

	if err := run(*listen, *dataDir, *logLevel, *synchronous); err != nil {
		fmt.Fprintf(os.Stderr, "crm-ferretdb: %v\n", err)
		os.Exit(1)
	}
}

// sqliteURL is FerretDB's SQLite URL for a data directory: every database file in WAL mode (the
// backend's default) with the given synchronous setting.
//
// FerretDB's SQLite backend writes each updated document in a transaction of its own, so with
// SQLite's default (full) every document updated costs a WAL sync. With normal, a committed
// write survives the process being killed and is synced at the next checkpoint; only a power
// loss or an operating-system crash can take back the last commits. That is MongoDB's own
// default (a write acknowledged with w:1 is journaled within 100 ms), and this program is a
// development and test store, never production's (docs/decisions/0002).
func sqliteURL(dir, synchronous string) (string, error) {
	switch synchronous {
	case "normal", "full":
	default:
		return "", fmt.Errorf("bad -synchronous %q: want normal or full", synchronous)
	}

	return "file:" + dir + "/?_pragma=synchronous(" + synchronous + ")", nil
}

func run(listen, dataDir, logLevel, synchronous string) error {
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

	url, err := sqliteURL(abs, synchronous)
	if err != nil {
		return err
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
		SQLiteURL: url,
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
