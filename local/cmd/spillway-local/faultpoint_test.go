package main

import (
	"flag"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

func TestFaultPointFlag(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    map[string]string // fn -> SPILLWAY_FAULT_POINT
		wantErr string
	}{
		{"none", nil, nil, ""},
		{"one", []string{"-fault-point", "fanout=after-commit@once"}, map[string]string{"fanout": "after-commit@once"}, ""},
		{"repeated and list", []string{
			"-fault-point", "fanout=after-decode@once",
			"-fault-point", "flush=after-seal,after-delete@once",
			"-fault-point", "fanout=after-commit@once",
		}, map[string]string{"fanout": "after-decode@once,after-commit@once", "flush": "after-seal,after-delete@once"}, ""},
		{"no function", []string{"-fault-point", "after-commit"}, nil, "want fanout="},
		{"ingest has none", []string{"-fault-point", "ingest=after-decode"}, nil, "want fanout="},
		{"empty spec", []string{"-fault-point", "flush="}, nil, "want fanout="},
		{"unknown point", []string{"-fault-point", "flush=after-decode@once"}, nil, `flush has no fault point "after-decode"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("up", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var cf cloudFlags
			cf.register(fs)
			err := fs.Parse(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse %v: err = %v, want containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			opts, err := cf.options()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for fn, env := range opts.FunctionEnv {
				if len(env) != 1 {
					t.Fatalf("%s env %v: want only %s", fn, env, lambdaenv.FaultPoint)
				}
				got[fn] = env[lambdaenv.FaultPoint]
			}
			if tt.want == nil {
				tt.want = map[string]string{}
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("FunctionEnv fault points %v, want %v", got, tt.want)
			}
			if err := opts.Validate(); err != nil {
				t.Fatalf("options do not validate: %v", err)
			}
		})
	}
}
