// Command spillway is the operations CLI of a Spillway deployment: API key
// administration (spillway keys), recovery of what the pipeline parked
// (spillway replay), SQL over the lake tables (spillway query; cgo builds
// only, as it links DuckDB) and the cost model (spillway cost, run from a
// checkout: it replays a corpus through the local cloud). It uses the
// standard AWS SDK configuration chain, so AWS_ENDPOINT_URL points it at the
// local cloud. See docs/OPERATIONS.md and docs/COST.md.
//
// Exit codes: 0 done; 1 an operation failed or some items were not
// replayed (each is reported); 2 bad usage or configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0 // everything asked for was done
	exitFailed  = 1 // an operation failed, or some items are left (reported)
	exitUsage   = 2 // bad command line or configuration
	usageHeader = `usage: spillway <command> [flags]

commands:
  keys    create, list and revoke ingest API keys
  replay  put parked data back into the pipeline (quarantine/, failed/, on-failure pointers)
  query   run SQL over the lake tables, named <db>.<table> (DuckDB; cgo builds only)
  cost    replay a corpus through the local cloud and price it per TB next to Firehose (from a checkout)

spillway <command> -h describes a command's flags.`
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, log)
	stop()
	os.Exit(code)
}

// usageError marks an error in the command line or configuration (exit 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErr(err error) error { return &usageError{err: err} }

// errLeft reports that a replay finished but left items behind.
var errLeft = errors.New("some items were not replayed")

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usageHeader)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "keys":
		err = runKeys(ctx, args[1:], stdout, nil)
	case "replay":
		err = runReplay(ctx, args[1:], stdout, log, nil)
	case "query":
		err = runQuery(ctx, args[1:], stdout, stderr)
	case "cost":
		err = runCost(ctx, args[1:], stdout, log)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usageHeader)
		return exitOK
	default:
		err = usageErr(fmt.Errorf("unknown command %q", args[0]))
	}
	return exitCode(err, stderr)
}

// exitCode reports err on stderr and maps it to an exit code.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "spillway:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "spillway:", err)
		return exitFailed
	}
}
