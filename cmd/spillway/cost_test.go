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
// measurement saved by `spillway cost -save` from the 10k corpus) as the
// command would, and checks the exit codes of bad usage.
func TestCostFromSavedMeasurement(t *testing.T) {
	saved := filepath.Join("testdata", "cost-measurement.json")
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
		{"json", []string{"cost", "-measurement", saved, "-format", "json"}, exitOK, []string{`"ratio_to_firehose"`, `"spillway_usd_per_tb"`, `"firehose_usd_per_tb"`, `"50 TB/day"`}},
		{"table", []string{"cost", "-measurement", saved}, exitOK, []string{"== 1 TB/day", "Spillway $/TB / Firehose $/TB", "what moves the cost", "PutRecords", "TransactWriteItems"}},
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
	var out bytes.Buffer
	if code := run(context.Background(), []string{"cost", "-measurement", saved, "-format", "json"}, &out, io.Discard, slog.New(slog.DiscardHandler)); code != exitOK {
		t.Fatal(code)
	}
	var doc struct {
		Scales []struct {
			Spillway float64 `json:"spillway_usd_per_tb"`
			Firehose float64 `json:"firehose_usd_per_tb"`
			Ratio    float64 `json:"ratio_to_firehose"`
		} `json:"scales"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || len(doc.Scales) != 3 {
		t.Fatalf("json: %v %s", err, out.String())
	}
	for _, s := range doc.Scales {
		if s.Ratio <= 0 || s.Ratio != s.Spillway/s.Firehose {
			t.Errorf("scale %+v", s)
		}
	}
}
