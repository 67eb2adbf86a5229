// Command bootstrap is the flush Lambda: it reads the environment named in
// shared/lambdaenv, reads the TD API keys from Secrets Manager once, builds
// the clients and starts the handler.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/spillwayhq/spillway/shared/fault"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spillwayhq/spillway/functions/flush"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level(os.Getenv(lambdaenv.LogLevel))}))
	slog.SetDefault(log)
	if err := run(log); err != nil {
		log.Error("flush start-up", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx := context.Background()
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	awsCfg, err := awsconf.Load(ctx)
	if err != nil {
		return err
	}
	keys := map[string]string{}
	endpoints := splitList(os.Getenv(lambdaenv.TDEndpoints))
	if id := os.Getenv(lambdaenv.TDAPIKeySecret); id != "" && len(endpoints) > 0 {
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
	h, err := flush.New(cfg, s3.NewFromConfig(awsCfg, awsconf.S3PathStyle), dynamodb.NewFromConfig(awsCfg), sinks,
		flush.WithLogger(log), flush.WithFault(fault.New(os.Getenv(lambdaenv.FaultPoint), "flush", "", os.Exit)))
	if err != nil {
		return err
	}
	lambda.Start(h.Handle)
	return nil
}

func configFromEnv() (flush.Config, error) {
	c := flush.DefaultConfig()
	c.Bucket = os.Getenv(lambdaenv.Bucket)
	c.CatalogTable = os.Getenv(lambdaenv.CatalogTable)
	c.ManifestTable = os.Getenv(lambdaenv.ManifestTable)
	if v := os.Getenv(lambdaenv.SealTargetBytes); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return c, fmt.Errorf("%s: %w", lambdaenv.SealTargetBytes, err)
		}
		c.SealTargetBytes = n
	}
	if v := os.Getenv(lambdaenv.LateWindow); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("%s: %w", lambdaenv.LateWindow, err)
		}
		c.LateWindow = d
	}
	return c, c.Validate()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func level(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
