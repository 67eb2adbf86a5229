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

// The store's DynamoDB calls (IAM: the operator running spillway keys needs
// them on the apikeys table; no function role does).
var _ apikeys.DynamoAPI = (*dynamodb.Client)(nil)

const keysUsage = `usage: spillway keys [-table T] [-outputs F] create -name N -db d1,d2 [-read] [-write] [-flush]
       spillway keys [-table T] [-outputs F] list
       spillway keys [-table T] [-outputs F] revoke <hash prefix>`

// runKeys creates, lists and revokes API keys. db, when not nil, replaces
// the DynamoDB client built from the environment (tests).
func runKeys(ctx context.Context, args []string, out io.Writer, db apikeys.DynamoAPI) error {
	fs := flag.NewFlagSet("spillway keys", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { fmt.Fprintln(out, keysUsage); fs.PrintDefaults() }
	table := fs.String("table", os.Getenv(lambdaenv.APIKeysTable), "DynamoDB apikeys table (default $"+lambdaenv.APIKeysTable+", else apikeys_table of -outputs)")
	outputs := fs.String("outputs", os.Getenv(envOutputs), "`file` written by terraform output -json, to read apikeys_table from (env "+envOutputs+")")
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if *table == "" && *outputs != "" {
		o, err := readOutputs(*outputs)
		if err != nil {
			return err
		}
		*table = o.APIKeysTable
	}
	if *table == "" {
		return usageErr(errors.New("-table (or " + lambdaenv.APIKeysTable + ", or -outputs) is required"))
	}
	if fs.NArg() == 0 {
		return usageErr(errors.New("command required: create, list or revoke"))
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
		return createKey(ctx, st, rest, out)
	case "list":
		return listKeys(ctx, st, out)
	case "revoke":
		if len(rest) != 1 {
			return usageErr(errors.New("revoke needs one hash prefix (see list)"))
		}
		h, err := st.Revoke(ctx, rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "revoked %s\n", h)
		return nil
	}
	return usageErr(fmt.Errorf("unknown keys command %q (create, list, revoke)", cmd))
}

func createKey(ctx context.Context, st *apikeys.Store, args []string, out io.Writer) error {
	cf := flag.NewFlagSet("spillway keys create", flag.ContinueOnError)
	cf.SetOutput(out)
	name := cf.String("name", "", "who holds the key")
	dbs := cf.String("db", "", "comma-separated databases, or *")
	read := cf.Bool("read", true, "may list databases and tables")
	write := cf.Bool("write", true, "may import and post")
	flush := cf.Bool("flush", false, "may force POST /v1/flush for its databases")
	if err := cf.Parse(args); err != nil {
		return usageErr(err)
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
}

func listKeys(ctx context.Context, st *apikeys.Store, out io.Writer) error {
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
}
