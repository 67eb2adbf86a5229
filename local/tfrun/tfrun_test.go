package tfrun

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeMirror creates a mirror root holding a (fake) AWS provider in the
// given layout and returns the root.
func fakeMirror(tb testing.TB, packed bool) string {
	tb.Helper()
	root := tb.TempDir()
	dir := filepath.Join(root, "registry.terraform.io", "hashicorp", "aws")
	file := filepath.Join(dir, "5.0.0", "linux_amd64", "terraform-provider-aws_v5.0.0_x5")
	if packed {
		file = filepath.Join(dir, "terraform-provider-aws_5.0.0_linux_amd64.zip")
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return root
}

func TestFindPluginMirror(t *testing.T) {
	unpacked, packed, empty := fakeMirror(t, false), fakeMirror(t, true), t.TempDir()
	tests := []struct {
		name    string
		env     string
		want    string
		wantErr error
	}{
		{name: "env unpacked", env: unpacked, want: unpacked},
		{name: "env packed", env: packed, want: packed},
		{name: "env without provider", env: empty, wantErr: ErrNoMirror},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvPluginMirror, tc.env)
			got, err := FindPluginMirror()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("mirror = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWalkForMirror(t *testing.T) {
	base := t.TempDir()
	deep := filepath.Join(base, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	m := fakeMirror(t, false)
	if err := os.Rename(m, filepath.Join(deep, "plugins")); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(deep, "plugins")
	tests := []struct {
		name  string
		depth int
		found bool
	}{
		{name: "within depth", depth: 4, found: true},
		{name: "too deep", depth: 2, found: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := walkForMirror(base, tc.depth)
			if ok != tc.found || (ok && got != want) {
				t.Fatalf("walk = %q, %v; want found=%v (%q)", got, ok, tc.found, want)
			}
		})
	}
}

func TestCLIConfigNamesMirror(t *testing.T) {
	c := cliConfig("/some/mirror")
	for _, want := range []string{`path    = "/some/mirror"`, `include = ["registry.terraform.io/hashicorp/aws"]`, `exclude = ["registry.terraform.io/hashicorp/aws"]`} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q:\n%s", want, c)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		opts     Options
		mentions []string
	}{
		{name: "ok", opts: Options{Source: dir, Module: "examples/local"}},
		{name: "all wrong", opts: Options{Source: filepath.Join(dir, "missing"), Module: "../x", StopGrace: -1}, mentions: []string{"Source", "Module", "StopGrace"}},
		{name: "no source", opts: Options{}, mentions: []string{"Source: required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if len(tc.mentions) == 0 && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for _, m := range tc.mentions {
				if err == nil || !strings.Contains(err.Error(), m) {
					t.Errorf("error %v does not mention %q", err, m)
				}
			}
		})
	}
}

func TestCopyTreeSkipsState(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	files := map[string]bool{ // path -> copied
		"main.tf":                      true,
		"modules/m/main.tf":            true,
		".terraform/providers/x":       false,
		".terraform.lock.hcl":          false,
		"terraform.tfstate":            false,
		"terraform.tfstate.backup":     false,
		"modules/m/.terraform/modules": false,
	}
	for p := range files {
		full := filepath.Join(src, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	for p, copied := range files {
		b, err := os.ReadFile(filepath.Join(dst, p))
		if copied && (err != nil || string(b) != p) {
			t.Errorf("%s not copied: %v", p, err)
		}
		if !copied && err == nil {
			t.Errorf("%s copied, want skipped", p)
		}
	}
}

// TestRunnerLifecycle runs the real terraform on a module that needs only
// the built-in terraform provider.
func TestRunnerLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := New(Options{Source: "testdata/module", PluginMirror: fakeMirror(t, false), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(r.Dir()); !os.IsNotExist(err) {
			t.Errorf("work dir %s left behind: %v", r.Dir(), err)
		}
	})
	if err := r.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(ctx); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"v": "two", "n": "2"}
	if err := r.Apply(ctx, vars); err != nil {
		t.Fatal(err)
	}
	out, err := r.Output(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := json.Unmarshal(out["value"], &v); err != nil || v != "two-2" {
		t.Fatalf("output value = %s (%v), want \"two-2\"", out["value"], err)
	}
	steps := []struct {
		name    string
		vars    map[string]string
		changes bool
	}{
		{name: "same vars", vars: vars, changes: false},
		{name: "new value", vars: map[string]string{"v": "three", "n": "2"}, changes: true},
	}
	for _, s := range steps {
		t.Run("plan "+s.name, func(t *testing.T) {
			changes, err := r.Plan(ctx, s.vars, true)
			if err != nil {
				t.Fatal(err)
			}
			if changes != s.changes {
				t.Fatalf("changes = %v, want %v", changes, s.changes)
			}
		})
	}
	// A failing command reports its exit code and the tail of its output.
	_, err = r.Run(ctx, "apply", "-auto-approve", "-input=false", "-no-color", "-var=n=notanumber")
	if err == nil || ExitCode(err) != 1 || !strings.Contains(err.Error(), "notanumber") {
		t.Fatalf("bad apply: err = %v (exit %d), want exit 1 naming the bad value", err, ExitCode(err))
	}
	if err := r.Destroy(ctx, vars); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(r.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"$ terraform init", "$ terraform apply", "$ terraform destroy", "Destroy complete"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	cfg, err := os.ReadFile(r.CLIConfigPath())
	if err != nil || !strings.Contains(string(cfg), "filesystem_mirror") {
		t.Fatalf("cli config not written: %v", err)
	}
}

func TestNewWithoutTerraform(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := New(Options{Source: "testdata/module"})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
}

func TestNewReplacesStaleWorkDir(t *testing.T) {
	base := t.TempDir()
	stale := filepath.Join(base, "src", "terraform.tfstate")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Source: "testdata/module", WorkDir: base, PluginMirror: fakeMirror(t, false)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale state survived New: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), "main.tf")); err != nil {
		t.Fatalf("module not copied: %v", err)
	}
}
