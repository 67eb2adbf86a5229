// Command bootstrap is the ingest Lambda: it reads the environment named by
// shared/lambdaenv, builds the AWS clients once and serves API Gateway
// requests with ingest.Handler.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
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
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level(os.Getenv(lambdaenv.LogLevel))}))
	h, err := build(context.Background(), log)
	if err != nil {
		log.Error("ingest start failed", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func build(ctx context.Context, log *slog.Logger) (*ingest.Handler, error) {
	cfg := ingest.Default()
	cfg.StreamName = os.Getenv(lambdaenv.StreamName)
	cfg.CatalogTable = os.Getenv(lambdaenv.CatalogTable)
	cfg.APIKeysTable = os.Getenv(lambdaenv.APIKeysTable)
	cfg.FlushFunction = os.Getenv(lambdaenv.FlushFunction)
	if v := os.Getenv(lambdaenv.AuthMode); v != "" {
		cfg.AuthMode = strings.ToLower(v)
	}
	if v := os.Getenv(lambdaenv.AutoCreate); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", lambdaenv.AutoCreate, err)
		}
		cfg.AutoCreate = b
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

func level(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
