package main

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

func TestBuildFromEnv(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := map[string]string{
		lambdaenv.StreamName: "s", lambdaenv.CatalogTable: "c", lambdaenv.APIKeysTable: "k",
		lambdaenv.FlushFunction: "f", lambdaenv.AutoCreate: "true", lambdaenv.AuthMode: "apikey", lambdaenv.LogLevel: "debug",
	}
	for name := range base {
		if !slices.Contains(lambdaenv.ByFunction["ingest"], name) {
			t.Fatalf("%s is not in lambdaenv.ByFunction[\"ingest\"]", name)
		}
	}
	tests := []struct {
		name    string
		change  map[string]string
		wantErr string
	}{
		{"complete", nil, ""},
		{"iam mode without apikeys table", map[string]string{lambdaenv.AuthMode: "IAM", lambdaenv.APIKeysTable: ""}, ""},
		{"missing stream", map[string]string{lambdaenv.StreamName: ""}, "StreamName"},
		{"bad auto create", map[string]string{lambdaenv.AutoCreate: "maybe"}, lambdaenv.AutoCreate},
		{"bad auth mode", map[string]string{lambdaenv.AuthMode: "none"}, "AuthMode"},
		{"iam scopes", map[string]string{lambdaenv.IAMScopes: `{"arn:aws:iam::1:role/ops": {"databases": ["web_logs"], "write": true, "flush": true}}`}, ""},
		{"iam scopes not JSON", map[string]string{lambdaenv.IAMScopes: `{`}, lambdaenv.IAMScopes},
		{"iam scope without permission", map[string]string{lambdaenv.IAMScopes: `{"*": {"databases": ["web_logs"]}}`}, "IAMScopes[*]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", "us-east-1")
			for k, v := range base {
				t.Setenv(k, v)
			}
			for k, v := range tc.change {
				t.Setenv(k, v)
			}
			h, err := build(context.Background(), discard)
			if tc.wantErr == "" {
				if err != nil || h == nil {
					t.Fatalf("build: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want error about %s, got %v", tc.wantErr, err)
			}
		})
	}
}
