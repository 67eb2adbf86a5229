package edge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
		check   func(t *testing.T, c FaultConfig)
	}{
		{
			name: "yaml",
			in: `seed: 42
rules:
  - service: kinesis
    operation: PutRecords
    rate: 0.1
    partial_failure: 0.5
  - service: dynamodb
    next: 3
    status: 400
    code: ThrottlingException
    latency: 250ms
`,
			check: func(t *testing.T, c FaultConfig) {
				if c.Seed != 42 || len(c.Rules) != 2 {
					t.Fatalf("got %+v", c)
				}
				if c.Rules[1].Latency != Duration(250*time.Millisecond) || c.Rules[1].Next != 3 || c.Rules[0].PartialFailure != 0.5 {
					t.Fatalf("got %+v", c.Rules)
				}
			},
		},
		{
			name: "json",
			in:   `{"rules":[{"service":"s3","operation":"PutObject","rate":1,"status":503,"code":"SlowDown"}]}`,
			check: func(t *testing.T, c FaultConfig) {
				if len(c.Rules) != 1 || c.Rules[0].Code != "SlowDown" || c.Rules[0].Status != 503 {
					t.Fatalf("got %+v", c)
				}
			},
		},
		{name: "empty", in: "", check: func(t *testing.T, c FaultConfig) {
			if len(c.Rules) != 0 {
				t.Fatalf("got %+v", c)
			}
		}},
		{name: "unknown key", in: "rules:\n  - service: s3\n    rate: 1\n    status: 500\n    code: InternalError\n    colour: red\n", wantErr: "colour"},
		{name: "bad duration", in: "rules:\n  - service: s3\n    rate: 1\n    latency: soon\n", wantErr: "duration"},
		{name: "every problem at once", in: "rules:\n  - rate: 2\n    status: 200\n", wantErr: "service: required"},
		{name: "status without code", in: "rules:\n  - service: s3\n    next: 1\n    status: 500\n", wantErr: "code: required"},
		{name: "never fires", in: "rules:\n  - service: s3\n    status: 500\n    code: InternalError\n", wantErr: "next or rate"},
		{name: "does nothing", in: "rules:\n  - service: s3\n    next: 1\n", wantErr: "rule does nothing"},
		{name: "partial on wrong op", in: "rules:\n  - service: kinesis\n    operation: PutRecord\n    next: 1\n    partial_failure: 0.5\n", wantErr: "only for service kinesis"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseFaults([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadFaults(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "faults.yaml")
	if err := os.WriteFile(p, []byte("rules:\n  - service: '*'\n    rate: 0.5\n    status: 500\n    code: InternalFailure\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFaults(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 1 || c.Rules[0].Service != "*" {
		t.Fatalf("got %+v", c)
	}
	if _, err := LoadFaults(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing file: want error")
	}
}

func TestInjectorSeededAndNext(t *testing.T) {
	cfg := FaultConfig{Seed: 7, Rules: []FaultRule{
		{Service: "dynamodb", Operation: "PutItem", Next: 2, Status: 400, Code: "ThrottlingException"},
		{Service: "dynamodb", Rate: 0.5, Status: 500, Code: "InternalServerError"},
	}}
	run := func() ([]string, map[string]int64) {
		in := newInjector(1)
		in.set(cfg)
		var seq []string
		for i := 0; i < 200; i++ {
			r, ok := in.pick(Call{Service: "dynamodb", Operation: "PutItem"})
			if ok {
				seq = append(seq, r.Code)
			} else {
				seq = append(seq, "-")
			}
		}
		_, counters := in.snapshot()
		return seq, counters
	}
	a, ca := run()
	b, _ := run()
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatal("same seed gave different fault sequences")
	}
	if a[0] != "ThrottlingException" || a[1] != "ThrottlingException" {
		t.Fatalf("next=2 rule did not fire first: %v", a[:3])
	}
	if ca["dynamodb.PutItem.ThrottlingException"] != 2 {
		t.Fatalf("counters = %v", ca)
	}
	n := ca["dynamodb.PutItem.InternalServerError"]
	if n < 60 || n > 140 { // 198 draws at p=0.5: far outside 6 sigma
		t.Fatalf("rate 0.5 fired %d of 198 times", n)
	}
	in := newInjector(1)
	in.set(cfg)
	if _, ok := in.pick(Call{Service: "s3", Operation: "PutObject"}); ok {
		t.Fatal("rule for dynamodb fired on s3")
	}
}

func TestFailIndexes(t *testing.T) {
	tests := []struct {
		n        int
		fraction float64
		want     int
	}{{10, 0.3, 3}, {10, 0.01, 1}, {3, 1, 3}, {1, 0.5, 1}, {500, 0.5, 250}}
	for _, tt := range tests {
		in := newInjector(3)
		got := in.failIndexes(tt.n, tt.fraction)
		if len(got) != tt.want {
			t.Fatalf("failIndexes(%d, %v) = %d indexes, want %d", tt.n, tt.fraction, len(got), tt.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] || got[i] >= tt.n {
				t.Fatalf("indexes not sorted/unique/in range: %v", got)
			}
		}
		if keep := complement(tt.n, got); len(keep)+len(got) != tt.n {
			t.Fatalf("complement size %d + %d != %d", len(keep), len(got), tt.n)
		}
	}
}
