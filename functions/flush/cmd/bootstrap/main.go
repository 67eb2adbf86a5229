// Command bootstrap is the flush Lambda: it reads the environment named in
// shared/lambdaenv, reads the TD API keys from Secrets Manager once, builds
// the clients and starts the handler.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spillwayhq/spillway/functions/flush"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/fault"
	"github.com/spillwayhq/spillway/shared/lake"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lambdaenv.NewLoader(os.LookupEnv).Level()}))
	slog.SetDefault(log)
	if err := run(log); err != nil {
		log.Error("flush start-up", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx := context.Background()
	cfg, e, err := configFromEnv(os.LookupEnv)
	if err != nil {
		return err
	}
	awsCfg, err := awsconf.Load(ctx)
	if err != nil {
		return err
	}
	keys := map[string]string{}
	endpoints := e.TDEndpoints
	if id := e.TDAPIKeySecret; id != "" && len(endpoints) > 0 {
		out, err := secretsmanager.NewFromConfig(awsCfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			return fmt.Errorf("read secret %s: %w", id, err)
		}
		if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &keys); err != nil {
			return fmt.Errorf("secret %s: want a JSON object {\"<endpoint url>\": \"<apikey>\"}: %w", id, err)
		}
	}
	var sinks []flush.Sink
	for _, ep := range endpoints {
		key, ok := keys[ep]
		if !ok {
			key = keys[strings.TrimRight(ep, "/")]
		}
		sinks = append(sinks, flush.Sink{Endpoint: ep, Client: &tdimport.Client{Endpoint: ep, APIKey: key, Logger: log}})
	}
	hook := fault.New(os.Getenv(lambdaenv.FaultPoint), "flush", "", os.Exit)
	opts := []flush.Option{flush.WithLogger(log), flush.WithFault(hook)}
	if e.LakeWarehouse != "" {
		// The file IO needs an explicit endpoint (path style) only on an
		// emulator; on AWS neither variable is set.
		s3Endpoint := cmp.Or(os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL"))
		lk, err := lake.New(awsCfg, lake.Config{Warehouse: e.LakeWarehouse, S3Endpoint: s3Endpoint,
			CompactMaxRows: e.LakeCompactMaxRows, Fault: hook, Logger: log})
		if err != nil {
			return err
		}
		opts = append(opts, flush.WithLake(lk))
	}
	h, err := flush.New(cfg, s3.NewFromConfig(awsCfg, awsconf.S3PathStyle), dynamodb.NewFromConfig(awsCfg, awsconf.DynamoDBRetryConflicts), sinks, opts...)
	if err != nil {
		return err
	}
	lambda.Start(h.Handle)
	return nil
}

// env is what flush reads from the environment besides its Config.
type env struct {
	TDEndpoints    []string // SPILLWAY_TD_ENDPOINTS
	TDAPIKeySecret string   // SPILLWAY_TD_APIKEY_SECRET
	LakeWarehouse  string   // SPILLWAY_LAKE_WAREHOUSE; empty: the lake is off
	// LakeCompactMaxRows is lake.Config.CompactMaxRows
	// (SPILLWAY_LAKE_COMPACT_MAX_ROWS).
	LakeCompactMaxRows int64
}

// configFromEnv reads the flush configuration over flush.DefaultConfig and
// the TD endpoint settings, and reports every bad variable and every
// invalid field at once.
func configFromEnv(lookup func(string) (string, bool)) (flush.Config, env, error) {
	l := lambdaenv.NewLoader(lookup)
	c := flush.DefaultConfig()
	e := env{LakeCompactMaxRows: lake.DefaultConfig().CompactMaxRows}
	l.String(lambdaenv.Bucket, &c.Bucket)
	l.String(lambdaenv.CatalogTable, &c.CatalogTable)
	l.String(lambdaenv.ManifestTable, &c.ManifestTable)
	l.String(lambdaenv.LedgerTable, &c.LedgerTable)
	l.Int64(lambdaenv.SealTargetBytes, &c.SealTargetBytes)
	l.Duration(lambdaenv.LateWindow, &c.LateWindow)
	l.Duration(lambdaenv.SweepEvery, &c.SweepEvery)
	l.Duration(lambdaenv.LakeSnapshotAge, &c.LakeSnapshotAge)
	l.Int(lambdaenv.LakeKeepSnapshots, &c.LakeKeepSnapshots)
	l.Duration(lambdaenv.LakeOrphanAge, &c.LakeOrphanAge)
	l.List(lambdaenv.TDEndpoints, &e.TDEndpoints)
	l.String(lambdaenv.TDAPIKeySecret, &e.TDAPIKeySecret)
	l.String(lambdaenv.LakeWarehouse, &e.LakeWarehouse)
	l.Int64(lambdaenv.LakeCompactMaxRows, &e.LakeCompactMaxRows)
	err := errors.Join(l.Err(), c.Validate())
	if e.LakeCompactMaxRows <= 0 {
		err = errors.Join(err, fmt.Errorf("%s: must be positive, got %d", lambdaenv.LakeCompactMaxRows, e.LakeCompactMaxRows))
	}
	return c, e, err
}
