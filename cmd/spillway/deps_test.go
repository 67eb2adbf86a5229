//go:build cgo

package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDuckDBStaysInTheCLI checks that no Lambda function or forwarder
// binary links DuckDB (cgo, ~55 MB): only this command may.
func TestDuckDBStaysInTheCLI(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../functions/...", "../../forwarder/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/duckdb/") {
			t.Errorf("a Lambda or forwarder package links %s", dep)
		}
	}
	self, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if !strings.Contains(string(self), "github.com/duckdb/duckdb-go/v2\n") {
		t.Fatal("the check is blind: this command does not list duckdb-go among its deps")
	}
}
