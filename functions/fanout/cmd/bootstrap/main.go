// Command bootstrap is the fanout Lambda: it reads the environment named in
// shared/lambdaenv, builds the AWS clients and starts the handler.
package main

import (
	"context"
	"fmt"
	"github.com/spillwayhq/spillway/shared/fault"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level(os.Getenv(lambdaenv.LogLevel))}))
	slog.SetDefault(log)
	cfg, err := configFromEnv()
	if err != nil {
		log.Error("fanout configuration", "err", err)
		os.Exit(1)
	}
	awsCfg, err := awsconf.Load(context.Background())
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	h, err := fanout.New(cfg, s3.NewFromConfig(awsCfg, awsconf.S3PathStyle), dynamodb.NewFromConfig(awsCfg),
		fanout.WithLogger(log), fanout.WithFault(fault.New(os.Getenv(lambdaenv.FaultPoint), "fanout", "", os.Exit)))
	if err != nil {
		log.Error("fanout handler", "err", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func configFromEnv() (fanout.Config, error) {
	c := fanout.DefaultConfig()
	c.Bucket = os.Getenv(lambdaenv.Bucket)
	c.CatalogTable = os.Getenv(lambdaenv.CatalogTable)
	c.LedgerTable = os.Getenv(lambdaenv.LedgerTable)
	c.ManifestTable = os.Getenv(lambdaenv.ManifestTable)
	if v := os.Getenv(lambdaenv.AutoCreate); v != "" {
		c.AutoCreate = v == "true"
	}
	if v := os.Getenv(lambdaenv.LedgerTTLHours); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return c, fmt.Errorf("%s: %w", lambdaenv.LedgerTTLHours, err)
		}
		c.LedgerTTL = time.Duration(n) * time.Hour
	}
	for name, dst := range map[string]*time.Duration{lambdaenv.LateWindow: &c.LateWindow, lambdaenv.FutureLimit: &c.FutureLimit} {
		if v := os.Getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return c, fmt.Errorf("%s: %w", name, err)
			}
			*dst = d
		}
	}
	return c, c.Validate()
}

func level(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
