// Command spillway-apikey creates, lists and revokes Spillway API keys in
// the DynamoDB apikeys table. It honours AWS_ENDPOINT_URL, so it works
// against the local cloud as well as AWS.
//
//	spillway-apikey -table <apikeys table> create -name ci -db mydb,otherdb [-read] [-write] [-flush]
//	spillway-apikey -table <apikeys table> list
//	spillway-apikey -table <apikeys table> revoke <hash prefix>
//
// -flush lets the key force POST /v1/flush for its databases; it is off by
// default, and keys created before it existed cannot flush.
//
// create prints the clear key once; only its SHA-256 is stored. The table
// defaults to $SPILLWAY_APIKEYS_TABLE.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/spillwayhq/spillway/functions/ingest/apikeys"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

// The store's DynamoDB calls (IAM: the operator running this command needs
// them on the apikeys table; no function role does).
var _ apikeys.DynamoAPI = (*dynamodb.Client)(nil)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "spillway-apikey:", err)
		os.Exit(1)
	}
}

// run executes one command. db, when not nil, replaces the DynamoDB client
// built from the environment (tests).
func run(ctx context.Context, args []string, out io.Writer, db apikeys.DynamoAPI) error {
	fs := flag.NewFlagSet("spillway-apikey", flag.ContinueOnError)
	fs.SetOutput(out)
	table := fs.String("table", os.Getenv(lambdaenv.APIKeysTable), "DynamoDB apikeys table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *table == "" {
		return errors.New("-table (or " + lambdaenv.APIKeysTable + ") is required")
	}
	if fs.NArg() == 0 {
		return errors.New("command required: create, list or revoke")
	}
	if db == nil {
		cfg, err := awsconf.Load(ctx)
		if err != nil {
			return err
		}
		db = dynamodb.NewFromConfig(cfg)
	}
	st := &apikeys.Store{DB: db, Table: *table}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "create":
		cf := flag.NewFlagSet("create", flag.ContinueOnError)
		cf.SetOutput(out)
		name := cf.String("name", "", "who holds the key")
		dbs := cf.String("db", "", "comma-separated databases, or *")
		read := cf.Bool("read", true, "may list databases and tables")
		write := cf.Bool("write", true, "may import and post")
		flush := cf.Bool("flush", false, "may force POST /v1/flush for its databases")
		if err := cf.Parse(rest); err != nil {
			return err
		}
		var list []string
		for _, d := range strings.Split(*dbs, ",") {
			if d = strings.TrimSpace(d); d != "" {
				list = append(list, d)
			}
		}
		key, k, err := st.Create(ctx, apikeys.NewSpec{Name: *name, Databases: list, CanRead: *read, CanWrite: *write, CanFlush: *flush})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "key:  %s\nhash: %s\n(the key is shown only once)\n", key, k.Hash)
		return nil
	case "list":
		keys, err := st.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HASH\tNAME\tDATABASES\tREAD\tWRITE\tFLUSH\tREVOKED\tCREATED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%t\t%t\t%t\t%s\n", k.Hash[:min(16, len(k.Hash))], k.Name, strings.Join(k.Databases, ","), k.CanRead, k.CanWrite, k.CanFlush, k.Revoked, k.CreatedAt.Format("2006-01-02T15:04:05Z"))
		}
		return tw.Flush()
	case "revoke":
		if len(rest) != 1 {
			return errors.New("revoke needs one hash prefix (see list)")
		}
		h, err := st.Revoke(ctx, rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "revoked %s\n", h)
		return nil
	}
	return fmt.Errorf("unknown command %q (create, list, revoke)", cmd)
}
