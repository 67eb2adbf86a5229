package tfrun

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvPluginMirror names the variable that overrides the provider mirror
// search: the directory that holds registry.terraform.io/.
const EnvPluginMirror = "SPILLWAY_TF_PLUGIN_MIRROR"

// ErrNoMirror is returned by FindPluginMirror when no filesystem mirror of the
// hashicorp/aws provider exists. Callers may then let Terraform use its
// registry as usual.
var ErrNoMirror = errors.New("no filesystem mirror of registry.terraform.io/hashicorp/aws found")

// awsProviderDir is the provider's path inside a mirror root.
var awsProviderDir = filepath.Join("registry.terraform.io", "hashicorp", "aws")

// maxWalkDepth bounds the last-resort walk of the file system.
const maxWalkDepth = 6

// FindPluginMirror returns the root of a Terraform filesystem mirror that
// holds the hashicorp/aws provider (the directory containing
// registry.terraform.io). It tries, in order: $SPILLWAY_TF_PLUGIN_MIRROR, the
// usual plugin directories, a bounded walk of /opt, and a bounded walk of /.
func FindPluginMirror() (string, error) {
	if p := os.Getenv(EnvPluginMirror); p != "" {
		if hasAWSProvider(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%s: %w there", EnvPluginMirror, p, ErrNoMirror)
	}
	var roots []string
	if home, err := os.UserHomeDir(); err == nil {
		roots = append(roots,
			filepath.Join(home, ".terraform.d", "plugins"),
			filepath.Join(home, ".local", "share", "terraform", "plugins"))
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		roots = append(roots, filepath.Join(x, "terraform", "plugins"))
	}
	roots = append(roots, "/usr/share/terraform/plugins", "/usr/local/share/terraform/plugins")
	for _, r := range roots {
		if hasAWSProvider(r) {
			return r, nil
		}
	}
	for _, base := range []string{"/opt", "/"} {
		if p, ok := walkForMirror(base, maxWalkDepth); ok {
			return p, nil
		}
	}
	return "", ErrNoMirror
}

// hasAWSProvider reports whether root is a mirror holding the AWS provider in
// the unpacked (<version>/<os_arch>/terraform-provider-aws*) or packed
// (terraform-provider-aws_*.zip) layout.
func hasAWSProvider(root string) bool {
	dir := filepath.Join(root, awsProviderDir)
	for _, pat := range []string{"*/*/terraform-provider-aws*", "terraform-provider-aws_*.zip"} {
		if m, _ := filepath.Glob(filepath.Join(dir, pat)); len(m) > 0 {
			return true
		}
	}
	return false
}

// skipDirs are never descended into by the file system walk.
var skipDirs = map[string]bool{"/proc": true, "/sys": true, "/dev": true, "/run": true, "/tmp": true}

// walkForMirror looks for a directory named registry.terraform.io under base,
// at most depth levels down, whose parent is a mirror holding the AWS provider.
func walkForMirror(base string, depth int) (string, bool) {
	base = filepath.Clean(base)
	baseDepth := strings.Count(base, string(filepath.Separator))
	if base == "/" {
		baseDepth = 0
	}
	var found string
	_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if skipDirs[p] || d.Name() == "node_modules" || d.Name() == ".git" {
			return fs.SkipDir
		}
		if strings.Count(p, string(filepath.Separator))-baseDepth > depth {
			return fs.SkipDir
		}
		if d.Name() == "registry.terraform.io" {
			if root := filepath.Dir(p); hasAWSProvider(root) {
				found = root
				return fs.SkipAll
			}
			return fs.SkipDir
		}
		return nil
	})
	return found, found != ""
}

// cliConfig is the Terraform CLI configuration that installs hashicorp/aws
// from the mirror at root and everything else from its origin registry.
func cliConfig(root string) string {
	return fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
`, root)
}
