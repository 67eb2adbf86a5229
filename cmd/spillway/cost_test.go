package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCostFromSavedMeasurement prices testdata/cost-measurement.json (a
// version 3 measurement saved by `spillway cost -save` from the 10k
// corpus: live and backfill windows, calls by resource, seals),
// cost-measurement-v2.json (the same without resources and seals: flush
// priced per byte) and cost-measurement-v1.json (a version 1 file: one
// window, the corpus's own times) as the command would, and checks the
// exit codes of bad usage.
func TestCostFromSavedMeasurement(t *testing.T) {
	saved := filepath.Join("testdata", "cost-measurement.json")
	v1 := filepath.Join("testdata", "cost-measurement-v1.json")
	v2 := filepath.Join("testdata", "cost-measurement-v2.json")
	badPrices := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(badPrices, []byte(`{"region":"x","date":"y","prices":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"json", []string{"cost", "-measurement", saved, "-format", "json"}, exitOK, []string{`"ratio_to_firehose"`, `"spillway_usd_per_tb"`, `"firehose_usd_per_tb"`, `"50 TB/day"`,
			`"window": "live"`, `"backfill": {`, `"spillway_usd_per_tb_measured_duration"`, `"modelled_ms"`, `"spillway_usd_per_tb_per_byte_sealing"`, `"cadence_cap_per_month"`}},
		{"table", []string{"cost", "-measurement", saved}, exitOK, []string{"== 1 TB/day", "Spillway $/TB / Firehose $/TB", "what moves the cost", "PutRecords", "TransactWriteItems",
			"LIVE TRAFFIC", "BACKFILL (the corpus's own event times; 85 sealed hour partitions)", "upper bound", "modelled ms",
			"seals a month", "manifests/staged", "seal_after"}},
		{"version 2 file: flush per byte", []string{"cost", "-measurement", v2}, exitOK, []string{"LIVE TRAFFIC", "BACKFILL", "modelled ms"}},
		{"version 1 file", []string{"cost", "-measurement", v1}, exitOK, []string{"no live window", "BACKFILL", "no per-function calls: measured"}},
		{"latencies missing", []string{"cost", "-measurement", saved, "-latencies", badPrices}, exitUsage, []string{"latencies"}},
		{"two corpora", []string{"cost", "-measurement", saved, "-lines", "10"}, exitUsage, nil},
		{"bad format", []string{"cost", "-measurement", saved, "-format", "xml"}, exitUsage, nil},
		{"prices missing", []string{"cost", "-measurement", saved, "-prices", badPrices}, exitUsage, []string{"prices.lambda_request: missing"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut, slog.New(slog.NewJSONHandler(io.Discard, nil)))
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errOut.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String()+errOut.String(), w) {
					t.Errorf("output lacks %q:\n%s%s", w, out.String(), errOut.String())
				}
			}
		})
	}
	var old bytes.Buffer
	if code := run(context.Background(), []string{"cost", "-measurement", v2}, &old, io.Discard, slog.New(slog.DiscardHandler)); code != exitOK || strings.Contains(old.String(), "seals a month") {
		t.Errorf("version 2 file: exit %d, and it has no seals to price by the cadence:\n%s", code, old.String())
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"cost", "-measurement", saved, "-format", "json"}, &out, io.Discard, slog.New(slog.DiscardHandler)); code != exitOK {
		t.Fatal(code)
	}
	type scales []struct {
		Spillway float64 `json:"spillway_usd_per_tb"`
		Firehose float64 `json:"firehose_usd_per_tb"`
		Ratio    float64 `json:"ratio_to_firehose"`
		Upper    float64 `json:"spillway_usd_per_tb_measured_duration"`
	}
	var doc struct {
		Window   string `json:"window"`
		Scales   scales `json:"scales"`
		Backfill struct {
			Window string `json:"window"`
			Scales scales `json:"scales"`
		} `json:"backfill"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Scales) != 3 || len(doc.Backfill.Scales) != 3 {
		t.Fatalf("json: %v %s", err, out.String())
	}
	if doc.Window != "live" || doc.Backfill.Window != "backfill" {
		t.Errorf("windows %q and %q, want live and backfill", doc.Window, doc.Backfill.Window)
	}
	for _, s := range append(doc.Scales, doc.Backfill.Scales...) {
		if s.Ratio <= 0 || s.Ratio != s.Spillway/s.Firehose || s.Upper < s.Spillway {
			t.Errorf("scale %+v", s)
		}
	}
}

// TestCostCloudOnFreePorts: the cost replay's cloud binds no default port,
// so it runs next to `make local-up` or another replay (two replays at once
// failed with "address already in use" on the REST front's 4569).
func TestCostCloudOnFreePorts(t *testing.T) {
	o := costCloudOptions(t.TempDir(), t.TempDir())
	for name, addr := range map[string]string{"EdgeAddr": o.EdgeAddr, "APIAddr": o.APIAddr, "TDAddr": o.TDAddr, "RESTAddr": o.RESTAddr} {
		if addr != "127.0.0.1:0" {
			t.Errorf("%s = %q, want a free port (127.0.0.1:0)", name, addr)
		}
	}
}
