// Package tfrun owns running the real Terraform CLI against a root module
// offline: it locates a filesystem mirror of the hashicorp/aws provider,
// writes a CLI config that installs the provider from it, copies the module
// tree into a temp work dir (so nothing is written into the repository) and
// runs init, validate, plan, apply, output and destroy with output streamed to
// a log file.
//
// Where no mirror exists (a developer machine or CI with network access),
// Terraform's own CLI configuration is left alone and `terraform init`
// downloads the provider from the registry as usual. Set
// SPILLWAY_TF_PLUGIN_MIRROR to force a particular mirror.
//
// Typical use (the local cloud):
//
//	r, err := tfrun.New(tfrun.Options{Source: repo + "/infra/terraform", Module: "examples/local"})
//	defer r.Close()
//	err = r.Init(ctx)
//	err = r.Apply(ctx, map[string]string{"endpoint": edgeURL, "lambda_package_dir": distDir})
//	out, err := r.Output(ctx) // out["stream_name"] is the JSON value `"spillway-local-events"`
//	err = r.Destroy(ctx, sameVars)
package tfrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// ErrNotInstalled is returned by New when the terraform executable cannot be
// found.
var ErrNotInstalled = errors.New("terraform not found on PATH (install it from https://developer.hashicorp.com/terraform/install)")

// Options configures New.
type Options struct {
	// Source is the directory tree copied into the work dir, e.g.
	// infra/terraform. It must contain Module and every local module Module
	// references by relative path.
	Source string
	// Module is the root module's path relative to Source, e.g. examples/local.
	// Empty means Source itself.
	Module string
	// Binary is the terraform executable; default: looked up on PATH.
	Binary string
	// PluginMirror is the filesystem mirror root; default: FindPluginMirror.
	// When none is found Terraform uses its registry.
	PluginMirror string
	// WorkDir receives the copy (in WorkDir/src, replaced by New, so state
	// from an earlier run never leaks into this one), the CLI config and the
	// log; default: a new temp dir removed by Close.
	WorkDir string
	// LogPath receives the output of every command; default: terraform.log in
	// the work dir.
	LogPath string
	// Env is extra environment (KEY=VALUE) for terraform.
	Env []string
	// StopGrace is how long a cancelled command gets after SIGINT before it is
	// killed; default 30s.
	StopGrace time.Duration
	// Logger receives one line per command; default slog.Default().
	Logger *slog.Logger
}

// setDefaults fills in the defaults documented on each field.
func (o *Options) setDefaults() {
	if o.StopGrace == 0 {
		o.StopGrace = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.Source == "" {
		errs = append(errs, errors.New("tfrun.Options.Source: required"))
	} else if st, err := os.Stat(o.Source); err != nil || !st.IsDir() {
		errs = append(errs, fmt.Errorf("tfrun.Options.Source: %q is not a directory", o.Source))
	}
	if filepath.IsAbs(o.Module) || strings.HasPrefix(filepath.Clean(o.Module), "..") {
		errs = append(errs, fmt.Errorf("tfrun.Options.Module: %q must be relative to Source and inside it", o.Module))
	}
	if o.StopGrace < 0 {
		errs = append(errs, errors.New("tfrun.Options.StopGrace: negative"))
	}
	return errors.Join(errs...)
}

// Runner runs terraform commands in one work dir. Its methods must not be
// called concurrently.
type Runner struct {
	bin     string
	workDir string // copy of Source
	dir     string // root module inside workDir
	tmpDir  string // removed by Close when we created it
	logPath string
	env     []string
	grace   time.Duration
	log     *slog.Logger
	mirror  string
	cliCfg  string
}

// New prepares a work dir holding a copy of opts.Source and, when a provider
// mirror is found, a CLI config that uses it.
func New(opts Options) (*Runner, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	bin := opts.Binary
	if bin == "" {
		p, err := exec.LookPath("terraform")
		if err != nil {
			return nil, ErrNotInstalled
		}
		bin = p
	}
	mirror := opts.PluginMirror
	if mirror == "" {
		m, err := FindPluginMirror()
		switch {
		case err == nil:
			mirror = m
		case errors.Is(err, ErrNoMirror) && os.Getenv(EnvPluginMirror) == "":
			// Use the registry.
		default:
			return nil, fmt.Errorf("find provider mirror: %w", err)
		}
	}
	r := &Runner{bin: bin, grace: opts.StopGrace, log: opts.Logger, mirror: mirror}
	base := opts.WorkDir
	if base == "" {
		d, err := os.MkdirTemp("", "spillway-tf-")
		if err != nil {
			return nil, fmt.Errorf("create terraform work dir: %w", err)
		}
		base, r.tmpDir = d, d
	}
	r.workDir = filepath.Join(base, "src")
	r.dir = filepath.Join(r.workDir, filepath.Clean(opts.Module))
	if err := os.RemoveAll(r.workDir); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("clear terraform work dir: %w", err)
	}
	if err := copyTree(opts.Source, r.workDir); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("copy %s: %w", opts.Source, err)
	}
	r.logPath = opts.LogPath
	if r.logPath == "" {
		r.logPath = filepath.Join(base, "terraform.log")
	}
	r.env = append(os.Environ(), "TF_IN_AUTOMATION=1", "TF_INPUT=0", "CHECKPOINT_DISABLE=1")
	if mirror != "" {
		cfg := filepath.Join(base, "terraform.rc")
		if err := os.WriteFile(cfg, []byte(cliConfig(mirror)), 0o600); err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("write terraform cli config: %w", err)
		}
		r.env = append(r.env, "TF_CLI_CONFIG_FILE="+cfg)
		r.cliCfg = cfg
		// A plugin cache would copy the large provider binary; the mirror is
		// already local.
		r.env = append(r.env, "TF_PLUGIN_CACHE_DIR=")
	}
	r.env = append(r.env, opts.Env...)
	return r, nil
}

// Dir is the root module's directory inside the work dir.
func (r *Runner) Dir() string { return r.dir }

// LogPath is the file receiving every command's output.
func (r *Runner) LogPath() string { return r.logPath }

// PluginMirror is the mirror root in use, or "" when the registry is used.
func (r *Runner) PluginMirror() string { return r.mirror }

// CLIConfigPath is the CLI config file written for the mirror, or "" when
// the registry is used.
func (r *Runner) CLIConfigPath() string { return r.cliCfg }

// Init runs `terraform init`; extra args (e.g. -backend=false) are appended.
func (r *Runner) Init(ctx context.Context, args ...string) error {
	_, err := r.Run(ctx, append([]string{"init", "-input=false", "-no-color"}, args...)...)
	return err
}

// Validate runs `terraform validate`.
func (r *Runner) Validate(ctx context.Context) error {
	_, err := r.Run(ctx, "validate", "-no-color")
	return err
}

// Apply runs `terraform apply -auto-approve` with the given variables. Values
// are passed with -var, so non-string variables take HCL syntax
// (`["a","b"]`, `true`).
func (r *Runner) Apply(ctx context.Context, vars map[string]string) error {
	_, err := r.Run(ctx, append([]string{"apply", "-input=false", "-no-color", "-auto-approve"}, varArgs(vars)...)...)
	return err
}

// Plan runs `terraform plan`. With detailedExitCode it reports whether the
// plan has changes (exit code 2) instead of treating that as an error.
func (r *Runner) Plan(ctx context.Context, vars map[string]string, detailedExitCode bool) (changes bool, err error) {
	args := []string{"plan", "-input=false", "-no-color"}
	if detailedExitCode {
		args = append(args, "-detailed-exitcode")
	}
	_, err = r.Run(ctx, append(args, varArgs(vars)...)...)
	var ee *exitError
	if detailedExitCode && errors.As(err, &ee) && ee.code == 2 {
		return true, nil
	}
	return false, err
}

// Destroy runs `terraform destroy -auto-approve` with the given variables.
func (r *Runner) Destroy(ctx context.Context, vars map[string]string) error {
	_, err := r.Run(ctx, append([]string{"destroy", "-input=false", "-no-color", "-auto-approve"}, varArgs(vars)...)...)
	return err
}

// Output returns each root module output's value from `terraform output -json`.
func (r *Runner) Output(ctx context.Context) (map[string]json.RawMessage, error) {
	out, err := r.Run(ctx, "output", "-json", "-no-color")
	if err != nil {
		return nil, err
	}
	return decodeOutput(out)
}

// decodeOutput extracts each output's value from `terraform output -json`.
func decodeOutput(out []byte) (map[string]json.RawMessage, error) {
	var raw map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("decode terraform output: %w", err)
	}
	res := make(map[string]json.RawMessage, len(raw))
	for k, v := range raw {
		res[k] = v.Value
	}
	return res, nil
}

// exitError is a terraform command that exited non-zero.
type exitError struct {
	args []string
	code int
	tail string
}

func (e *exitError) Error() string {
	return fmt.Sprintf("terraform %s: exit status %d\n%s", strings.Join(e.args, " "), e.code, e.tail)
}

// ExitCode returns the exit status of a failed terraform command in err's
// chain, or -1 when err is not one.
func ExitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return -1
}

// Run runs terraform with args in the root module's directory. Stdout is
// returned and, like stderr, appended to the log. A failure's error carries
// the tail of that command's output.
func (r *Runner) Run(ctx context.Context, args ...string) ([]byte, error) {
	logf, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open terraform log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n$ terraform %s\n", strings.Join(args, " "))
	var stdout bytes.Buffer
	tailW := &tailBuffer{max: 8 << 10}
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Dir = r.dir
	cmd.Env = r.env
	cmd.Stdout = io.MultiWriter(logf, &stdout, tailW)
	cmd.Stderr = io.MultiWriter(logf, tailW)
	// Pdeathsig interrupts terraform (which then stops its providers) if this
	// process dies mid-command; it is tied to the starting OS thread, which
	// stays locked until the command has exited.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = r.grace
	start := time.Now()
	runtime.LockOSThread()
	err = cmd.Run()
	runtime.UnlockOSThread()
	if cmd.Process != nil {
		// Providers run as children in the same group; make sure none outlive us.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	r.log.Info("terraform", "args", strings.Join(args, " "), "dir", r.dir, "elapsed", time.Since(start).Round(time.Millisecond).String(), "err", err)
	if err != nil {
		var xe *exec.ExitError
		if errors.As(err, &xe) && ctx.Err() == nil {
			return stdout.Bytes(), &exitError{args: args, code: xe.ExitCode(), tail: tailW.String()}
		}
		return stdout.Bytes(), fmt.Errorf("terraform %s: %w\n%s", strings.Join(args, " "), errors.Join(err, ctx.Err()), tailW.String())
	}
	return stdout.Bytes(), nil
}

// Close removes the work dir New created (with its state and log). Call it
// after Destroy.
func (r *Runner) Close() error {
	if r.tmpDir == "" {
		return nil
	}
	if err := os.RemoveAll(r.tmpDir); err != nil {
		return fmt.Errorf("remove terraform work dir: %w", err)
	}
	return nil
}

func varArgs(vars map[string]string) []string {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := make([]string, 0, len(keys))
	for _, k := range keys {
		args = append(args, "-var="+k+"="+vars[k])
	}
	return args
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// copyTree copies regular files and directories from src to dst, skipping
// Terraform working state (.terraform, lock files, state files).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := d.Name()
		if rel != "." && (name == ".terraform" || name == ".terraform.lock.hcl" || strings.HasPrefix(name, "terraform.tfstate")) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
