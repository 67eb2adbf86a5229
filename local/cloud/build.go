package cloud

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/spillwayhq/spillway/local/proc"
)

// Functions are the Lambda functions the pipeline deploys.
var Functions = []string{"ingest", "fanout", "flush"}

// RepoRoot finds the Spillway module root by walking up from dir.
func RepoRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("repo root: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/spillwayhq/spillway\n")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("repo root: no go.mod of github.com/spillwayhq/spillway above %s", dir)
		}
		d = parent
	}
}

// builds holds where the build step put its outputs.
type builds struct {
	zipDir string            // <name>-arm64.zip for Terraform
	native map[string]string // function -> native bootstrap binary for the runner
}

// goBuild runs one go build in its own process group, killed on ctx end.
// A failure is retried once: concurrent builds sharing the Go build cache
// occasionally fail to open a cache entry another build is writing.
func goBuild(ctx context.Context, root, out, pkg, goos, goarch string, logw io.Writer) error {
	err := goBuildOnce(ctx, root, out, pkg, goos, goarch, logw)
	if err != nil && ctx.Err() == nil {
		err = goBuildOnce(ctx, root, out, pkg, goos, goarch, logw)
	}
	return err
}

func goBuildOnce(ctx context.Context, root, out, pkg, goos, goarch string, logw io.Writer) error {
	args := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg}
	return runGoBuild(ctx, root, pkg, goos+"/"+goarch, args, []string{"CGO_ENABLED=0", "GOOS=" + goos, "GOARCH=" + goarch}, logw)
}

// runGoBuild runs go with args (a build of pkg for target) and the extra
// environment env in its own process group, killed on ctx end.
func runGoBuild(ctx context.Context, root, pkg, target string, args, env []string, logw io.Writer) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stdout = logw
	cmd.Stderr = io.MultiWriter(logw, &stderr)
	p, err := proc.Start(cmd, proc.Options{})
	if err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	select {
	case <-p.Done():
		if err := p.Err(); err != nil {
			return fmt.Errorf("go build %s (%s): %w\n%s", pkg, target, err, stderr.String())
		}
		return nil
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("go build %s: %w", pkg, ctx.Err())
	}
}

// buildFunctions builds linux/arm64 zips (for Terraform) and native
// bootstrap binaries (for the runner) of every function under dir.
func buildFunctions(ctx context.Context, root, dir string, logw io.Writer) (builds, error) {
	b := builds{zipDir: filepath.Join(dir, "zips"), native: map[string]string{}}
	if err := os.MkdirAll(b.zipDir, 0o755); err != nil {
		return b, fmt.Errorf("create build dir: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, fn := range Functions {
		pkg := "./functions/" + fn + "/cmd/bootstrap"
		armBin := filepath.Join(dir, "linux-arm64", fn, "bootstrap")
		nativeBin := filepath.Join(dir, "native", fn, "bootstrap")
		b.native[fn] = nativeBin
		g.Go(func() error {
			if err := goBuild(gctx, root, armBin, pkg, "linux", "arm64", logw); err != nil {
				return err
			}
			return writeZip(filepath.Join(b.zipDir, fn+"-arm64.zip"), armBin)
		})
		g.Go(func() error { return goBuild(gctx, root, nativeBin, pkg, runtime.GOOS, runtime.GOARCH, logw) })
	}
	if err := g.Wait(); err != nil {
		return b, err
	}
	return b, nil
}

// DefaultBuildDir is where the builds of the checkout at root go when
// Options.BuildDir is empty: spillway-local/<hash of root> in the user
// cache dir. Each checkout has its own, so runs from two checkouts at once
// (CI jobs, worktrees) never replace each other's zips between Terraform's
// plan and apply; runs of one checkout share it (its builds are
// reproducible: -trimpath, fixed zip timestamps).
func DefaultBuildDir(root string) string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(cache, "spillway-local", hex.EncodeToString(sum[:6]))
}

// writeZip writes a Lambda package holding bin as "bootstrap" with a fixed
// timestamp, so identical binaries give identical zips.
func writeZip(path, bin string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("read %s: %w", bin, err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return fmt.Errorf("zip %s: %w", path, err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("zip %s: %w", path, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("zip %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	return os.Rename(tmp, path)
}

// prebuilt checks a directory of existing outputs (Options.NoBuild).
func prebuilt(zipDir, nativeDir string) (builds, error) {
	b := builds{zipDir: zipDir, native: map[string]string{}}
	var errs []error
	for _, fn := range Functions {
		if _, err := os.Stat(filepath.Join(zipDir, fn+"-arm64.zip")); err != nil {
			errs = append(errs, fmt.Errorf("prebuilt zip: %w", err))
		}
		p := filepath.Join(nativeDir, fn, "bootstrap")
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, fmt.Errorf("prebuilt native binary: %w", err))
		}
		b.native[fn] = p
	}
	if err := errors.Join(errs...); err != nil {
		return b, fmt.Errorf("%w (build with `make build` or leave Options.NoBuild unset)", err)
	}
	return b, nil
}

// quoteHCL renders a string for a -var value in HCL syntax.
func quoteHCL(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", "$${", "%{", "%%{")
	return `"` + r.Replace(s) + `"`
}

func runtimeGOOS() string   { return runtime.GOOS }
func runtimeGOARCH() string { return runtime.GOARCH }
