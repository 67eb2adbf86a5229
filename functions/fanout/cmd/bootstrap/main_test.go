package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

func TestConfigFromEnv(t *testing.T) {
	base := map[string]string{
		lambdaenv.Bucket: "b", lambdaenv.CatalogTable: "c", lambdaenv.LedgerTable: "l", lambdaenv.ManifestTable: "m",
	}
	tests := []struct {
		name     string
		change   map[string]string
		check    func(t *testing.T, c fanout.Config)
		mentions []string
	}{
		{name: "defaults", check: func(t *testing.T, c fanout.Config) {
			if c.LedgerTTL != 216*time.Hour || c.CommitConcurrency != 8 || c.AutoCreate || c.CounterItems != fanout.DefaultConfig().CounterItems {
				t.Errorf("ttl %s, commit concurrency %d, auto create %v, counter items %d; want 216h, 8, false, %d",
					c.LedgerTTL, c.CommitConcurrency, c.AutoCreate, c.CounterItems, fanout.DefaultConfig().CounterItems)
			}
		}},
		{name: "as Terraform sets them", change: map[string]string{
			lambdaenv.AutoCreate: "true", lambdaenv.LedgerTTLHours: "264", lambdaenv.ResendHorizonHours: "168",
			lambdaenv.StreamRetentionHours: "72", lambdaenv.CommitConcurrency: "4", lambdaenv.LateWindow: "10m", lambdaenv.FutureLimit: "1h",
			lambdaenv.CounterItems: "16",
		}, check: func(t *testing.T, c fanout.Config) {
			if c.LedgerTTL != 264*time.Hour || c.CommitConcurrency != 4 || !c.AutoCreate || c.CounterItems != 16 {
				t.Errorf("ttl %s, commit concurrency %d, auto create %v, counter items %d; want 264h, 4, true, 16", c.LedgerTTL, c.CommitConcurrency, c.AutoCreate, c.CounterItems)
			}
		}},
		{name: "ledger TTL of 72 h is too short", change: map[string]string{lambdaenv.LedgerTTLHours: "72"}, mentions: []string{"LedgerTTL: 72h0m0s is shorter than"}},
		{name: "longer retention needs a longer TTL", change: map[string]string{lambdaenv.StreamRetentionHours: "72"}, mentions: []string{"LedgerTTL: 216h0m0s is shorter than"}},
		{name: "every bad variable at once", change: map[string]string{
			lambdaenv.Bucket: "", lambdaenv.AutoCreate: "yes please", lambdaenv.LedgerTTLHours: "9d",
			lambdaenv.CommitConcurrency: "0", lambdaenv.LateWindow: "10", lambdaenv.FutureLimit: "soon", lambdaenv.CounterItems: "1001",
		}, mentions: []string{"Bucket: required", lambdaenv.AutoCreate, lambdaenv.LedgerTTLHours, "CommitConcurrency", lambdaenv.LateWindow, lambdaenv.FutureLimit, "CounterItems"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.change {
				if !slices.Contains(lambdaenv.ByFunction["fanout"], k) {
					t.Fatalf("%s is not in lambdaenv.ByFunction[\"fanout\"]", k)
				}
				env[k] = v
			}
			c, err := configFromEnv(lambdaenv.MapLookup(env))
			if len(tc.mentions) == 0 {
				if err != nil {
					t.Fatalf("configFromEnv: %v", err)
				}
				tc.check(t, c)
				return
			}
			if err == nil {
				t.Fatalf("no error, want one naming %v", tc.mentions)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error does not name %s:\n%v", m, err)
				}
			}
		})
	}
}
