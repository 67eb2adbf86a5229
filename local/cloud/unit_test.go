package cloud

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/local/edge"
)

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "infra", "terraform")); err != nil {
		t.Fatalf("repo root %s has no infra/terraform: %v", root, err)
	}
	if _, err := RepoRoot(t.TempDir()); err == nil {
		t.Fatal("temp dir: want error")
	}
}

func TestQuoteHCL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:4568", `"http://127.0.0.1:4568"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"${x}", `"$${x}"`},
		{"%{if}", `"%%{if}"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := quoteHCL(tt.in); got != tt.want {
				t.Fatalf("quoteHCL(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeOutputs(t *testing.T) {
	full := map[string]json.RawMessage{
		"api_id": json.RawMessage(`"abc"`), "stream_name": json.RawMessage(`"s"`), "bucket": json.RawMessage(`"b"`),
		"catalog_table": json.RawMessage(`"c"`), "apikeys_table": json.RawMessage(`"k"`), "esm_uuid": json.RawMessage(`"u"`),
		"flush_rule_name": json.RawMessage(`"r"`), "function_names": json.RawMessage(`{"ingest":"i","fanout":"f","flush":"fl"}`),
		"extra_output": json.RawMessage(`[1,2]`),
	}
	var out Outputs
	if err := decodeOutputs(full, &out); err != nil {
		t.Fatal(err)
	}
	if out.FunctionNames["flush"] != "fl" || out.Bucket != "b" {
		t.Fatalf("got %+v", out)
	}
	delete(full, "bucket")
	delete(full, "esm_uuid")
	err := decodeOutputs(full, &Outputs{})
	if err == nil || !strings.Contains(err.Error(), "bucket, esm_uuid") {
		t.Fatalf("err = %v, want both missing outputs named", err)
	}
}

func TestWriteZip(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a.zip"), filepath.Join(dir, "b.zip")
	for _, p := range []string{a, b} {
		if err := writeZip(p, bin); err != nil {
			t.Fatal(err)
		}
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if string(ab) != string(bb) {
		t.Fatal("zips of the same binary differ")
	}
	zr, err := zip.OpenReader(a)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != "bootstrap" || zr.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("zip holds %v", zr.File)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"defaults", func(*Options) {}, ""},
		{"bad addr", func(o *Options) { o.APIAddr = "nope" }, "APIAddr"},
		{"bad faults", func(o *Options) { o.Faults = edge.FaultConfig{Rules: []edge.FaultRule{{Service: "s3"}}} }, "Faults"},
		{"negative", func(o *Options) { o.FlushPeriod = -1 }, "negative"},
		{"function env", func(o *Options) {
			o.FunctionEnv = map[string]map[string]string{"fanout": {"SPILLWAY_FAULT_POINT": "after-commit@once"}}
		}, ""},
		{"function env unknown function", func(o *Options) {
			o.FunctionEnv = map[string]map[string]string{"fanot": {"SPILLWAY_FAULT_POINT": "x"}}
		}, `unknown function "fanot"`},
		{"function env bad name", func(o *Options) {
			o.FunctionEnv = map[string]map[string]string{"flush": {"A=B": "x"}}
		}, "invalid variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.mod(&o)
			err := o.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestStartPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	o := DefaultOptions()
	o.APIAddr = l.Addr().String()
	o.EdgeAddr, o.TDAddr, o.RESTAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	o.DataDir = t.TempDir()
	_, err = Start(t.Context(), o)
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("err = %v, want ErrPortInUse naming %s", err, l.Addr())
	}
}

// TestDefaultBuildDirPerCheckout: two checkouts never share a build
// directory (a concurrent run would replace the other's zips between
// Terraform's plan and apply); one checkout always gets the same one.
func TestDefaultBuildDirPerCheckout(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if DefaultBuildDir(a) == DefaultBuildDir(b) {
		t.Fatalf("checkouts %s and %s share %s", a, b, DefaultBuildDir(a))
	}
	if DefaultBuildDir(a) != DefaultBuildDir(a+"/.") {
		t.Fatalf("one checkout, two dirs: %s, %s", DefaultBuildDir(a), DefaultBuildDir(a+"/."))
	}
}

// TestFreePortsEveryAddress: FreePorts covers every listen address field
// of Options (a field added later is caught here), so a cloud started with
// it never binds a default port.
func TestFreePortsEveryAddress(t *testing.T) {
	o := DefaultOptions()
	o.FreePorts()
	v := reflect.ValueOf(o)
	n := 0
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if !strings.HasSuffix(f.Name, "Addr") {
			continue
		}
		n++
		if got := v.Field(i).String(); got != "127.0.0.1:0" {
			t.Errorf("%s = %q after FreePorts, want 127.0.0.1:0", f.Name, got)
		}
	}
	if n != len(o.listenAddrs()) {
		t.Errorf("%d address fields, listenAddrs lists %d", n, len(o.listenAddrs()))
	}
}
