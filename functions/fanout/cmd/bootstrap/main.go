// Command bootstrap is the fanout Lambda: it reads the environment named in
// shared/lambdaenv, builds the AWS clients and starts the handler.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/fault"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lambdaenv.NewLoader(os.LookupEnv).Level()}))
	slog.SetDefault(log)
	cfg, err := configFromEnv(os.LookupEnv)
	if err != nil {
		log.Error("fanout configuration", "err", err)
		os.Exit(1)
	}
	awsCfg, err := awsconf.Load(context.Background())
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	h, err := fanout.New(cfg, s3.NewFromConfig(awsCfg, awsconf.S3PathStyle), dynamodb.NewFromConfig(awsCfg, awsconf.DynamoDBRetryConflicts),
		fanout.WithLogger(log), fanout.WithFlushInvoker(awslambda.NewFromConfig(awsCfg)), fanout.WithFault(fault.New(os.Getenv(lambdaenv.FaultPoint), "fanout", "", os.Exit)))
	if err != nil {
		log.Error("fanout handler", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// configFromEnv reads the fanout configuration over fanout.DefaultConfig and
// reports every bad variable and every invalid field at once.
func configFromEnv(lookup func(string) (string, bool)) (fanout.Config, error) {
	env := lambdaenv.NewLoader(lookup)
	c := fanout.DefaultConfig()
	env.String(lambdaenv.Bucket, &c.Bucket)
	env.String(lambdaenv.CatalogTable, &c.CatalogTable)
	env.String(lambdaenv.LedgerTable, &c.LedgerTable)
	env.String(lambdaenv.ManifestTable, &c.ManifestTable)
	env.String(lambdaenv.FlushFunction, &c.FlushFunction)
	env.Duration(lambdaenv.SealAfter, &c.SealAfter)
	env.Bool(lambdaenv.AutoCreate, &c.AutoCreate)
	env.Hours(lambdaenv.LedgerTTLHours, &c.LedgerTTL)
	env.Hours(lambdaenv.ResendHorizonHours, &c.ResendHorizon)
	env.Hours(lambdaenv.StreamRetentionHours, &c.StreamRetention)
	env.Int(lambdaenv.CommitConcurrency, &c.CommitConcurrency)
	env.Int(lambdaenv.CounterItems, &c.CounterItems)
	env.Duration(lambdaenv.LateWindow, &c.LateWindow)
	env.Duration(lambdaenv.FutureLimit, &c.FutureLimit)
	return c, errors.Join(env.Err(), c.Validate())
}
