package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/shared/atomicfile"
)

func TestRunArguments(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no command", nil, "no command"},
		{"unknown command", []string{"launch"}, "unknown command"},
		{"help", []string{"help"}, ""},
		{"bad flag", []string{"up", "-nope"}, "flag provided but not defined"},
		{"missing faults file", []string{"demo", "-faults", "/nonexistent/faults.yaml"}, "read faults file"},
		{"wait times out", []string{"wait", "-state-dir", "/nonexistent", "-timeout", "1ms"}, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(tt.args, io.Discard, io.Discard)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestWaitSeesEnvFile(t *testing.T) {
	dir := t.TempDir()
	done := make(chan error, 1)
	go func() { done <- run([]string{"wait", "-state-dir", dir, "-timeout", "30s"}, io.Discard, io.Discard) }()
	if err := atomicfile.WriteFile(filepath.Join(dir, "env"), []byte("export A=b\n")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("wait did not return after the env file appeared")
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 {
		t.Fatalf("want only the env file in %s, got %v (%v)", dir, ents, err)
	}
}
