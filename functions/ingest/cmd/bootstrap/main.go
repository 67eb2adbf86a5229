// Command bootstrap is the ingest Lambda: it reads the environment named by
// shared/lambdaenv, builds the AWS clients once and serves API Gateway
// requests (HTTP API and REST API events) with ingest.Handler.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/spillwayhq/spillway/functions/ingest"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lambdaenv.NewLoader(os.LookupEnv).Level()}))
	h, err := build(context.Background(), log)
	if err != nil {
		log.Error("ingest start failed", "error", err.Error())
		os.Exit(1)
	}
	// h is a lambda.Handler: it serves HTTP API (payload 2.0) and REST API
	// (payload 1.0) events alike.
	lambda.Start(h)
}

// configFromEnv reads the ingest configuration over ingest.DefaultConfig and
// reports every bad variable and every invalid field at once.
func configFromEnv(lookup func(string) (string, bool)) (ingest.Config, error) {
	env := lambdaenv.NewLoader(lookup)
	cfg := ingest.DefaultConfig()
	env.String(lambdaenv.StreamName, &cfg.StreamName)
	env.String(lambdaenv.CatalogTable, &cfg.CatalogTable)
	env.String(lambdaenv.APIKeysTable, &cfg.APIKeysTable)
	env.String(lambdaenv.FlushFunction, &cfg.FlushFunction)
	env.String(lambdaenv.AuthMode, &cfg.AuthMode)
	cfg.AuthMode = strings.ToLower(cfg.AuthMode)
	env.Bool(lambdaenv.AutoCreate, &cfg.AutoCreate)
	var scopes string
	env.String(lambdaenv.IAMScopes, &scopes)
	var scopeErr error
	if cfg.IAMScopes, scopeErr = ingest.ParseIAMScopes(scopes); scopeErr != nil {
		scopeErr = fmt.Errorf("%s: %w", lambdaenv.IAMScopes, scopeErr)
	}
	return cfg, errors.Join(env.Err(), scopeErr, cfg.Validate())
}

func build(ctx context.Context, log *slog.Logger) (*ingest.Handler, error) {
	cfg, err := configFromEnv(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconf.Load(ctx)
	if err != nil {
		return nil, err
	}
	return ingest.New(cfg, ingest.Deps{
		Kinesis:  kinesis.NewFromConfig(awsCfg),
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		Lambda:   awslambda.NewFromConfig(awsCfg),
		Logger:   log,
	})
}
