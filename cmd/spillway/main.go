// Command spillway is the operator CLI. It links DuckDB (cgo), so it is kept
// out of the Lambda and forwarder binaries (deps_test.go checks it).
//
//	spillway query [--format table|csv|json] "SELECT ... FROM db.table ..."
//
// AWS settings come from the standard environment (AWS_REGION,
// AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, credentials), so the same command
// reads the local cloud or an AWS account.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: spillway <command> [flags]

commands:
  query [--format table|csv|json] "SQL"   run SQL over the lake; tables are <db>.<table>
`

// run executes one command and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "query":
		return runQuery(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "spillway: unknown command %q\n%s", args[0], usage)
	return 2
}
