// Package packaging owns the forwarder's Linux packages: it builds the .deb
// and .rpm of spillway-forwarder (binary, systemd unit, default
// configuration, logrotate file, maintainer scripts) with nfpm used as a
// library. Only cmd/mkpkg and tests import it: nfpm is never linked into the
// forwarder.
package packaging

import (
	"debug/elf"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// Installed paths.
const (
	Name       = "spillway-forwarder"
	BinaryPath = "/usr/bin/spillway-forwarder"
	UnitPath   = "/usr/lib/systemd/system/spillway-forwarder.service"
	ConfigPath = "/etc/spillway/forwarder.yaml"
	LogrotPath = "/etc/logrotate.d/spillway-forwarder"
	StateDir   = "/var/lib/spillway-forwarder"
	LogDir     = "/var/log/spillway"
)

// Formats are the package formats Build writes.
var Formats = []string{"deb", "rpm"}

// Archs maps the Go architectures packaged to their ELF machine.
var Archs = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

//go:embed files
var embedded embed.FS

// File returns the content of one of the packaged files (files/<name>).
func File(name string) ([]byte, error) {
	b, err := embedded.ReadFile("files/" + name)
	if err != nil {
		return nil, fmt.Errorf("packaged file %s: %w", name, err)
	}
	return b, nil
}

// Options say what Build packages and where.
type Options struct {
	// Version is what `git describe --tags` prints (v1.2.3, v1.2.3-4-gabc,
	// a bare commit hash) or a plain version; Version() normalises it.
	Version string
	// Arch is a key of Archs.
	Arch string
	// Binary is the static forwarder built for Arch; its ELF machine is checked.
	Binary string
	// OutDir receives <name>_<version>_<arch>.deb and <name>-<version>.<arch>.rpm.
	OutDir string
	// MTime stamps every file (reproducible packages); zero means now.
	MTime time.Time
}

var (
	describeRe = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)(?:-([0-9A-Za-z.]+?))?(?:-(\d+)-g([0-9a-f]+))?$`)
	hashRe     = regexp.MustCompile(`^[0-9a-f]{4,40}$`)
)

// Version turns a `git describe --tags` output into a version that sorts
// right for both dpkg and rpm (no '-', which rpm forbids in versions):
// v1.2.3 -> 1.2.3, v1.2.3-rc1 -> 1.2.3~rc1 (before 1.2.3), v1.2.3-4-gabc ->
// 1.2.3+git4.gabc (after 1.2.3), a bare hash abc -> 0.0.0+gitabc, and a
// -dirty suffix -> .dirty.
func Version(describe string) (string, error) {
	s := strings.TrimSpace(describe)
	dirty := strings.HasSuffix(s, "-dirty")
	s = strings.TrimSuffix(s, "-dirty")
	var v string
	switch m := describeRe.FindStringSubmatch(s); {
	case m != nil:
		v = m[1]
		if m[2] != "" {
			v += "~" + m[2]
		}
		if m[3] != "" {
			v += "+git" + m[3] + ".g" + m[4]
		}
	case hashRe.MatchString(s):
		v = "0.0.0+git" + s
	default:
		return "", fmt.Errorf("version %q is not vX.Y.Z[-pre][-N-gHASH][-dirty] or a commit hash", describe)
	}
	if dirty {
		if strings.Contains(v, "+") {
			return v + ".dirty", nil
		}
		return v + "+dirty", nil
	}
	return v, nil
}

// checkBinary verifies that path is an ELF executable for arch.
func checkBinary(path, arch string) error {
	want, ok := Archs[arch]
	if !ok {
		return fmt.Errorf("arch %q is not one of amd64, arm64", arch)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("binary %s: %w", path, err)
	}
	defer f.Close()
	if f.Machine != want {
		return fmt.Errorf("binary %s is built for %v, not %s (%v)", path, f.Machine, arch, want)
	}
	return nil
}

// Info returns the nfpm description of the format package for opts, its
// files staged under stage (nfpm reads contents and scripts from disk).
func Info(opts Options, stage, format string) (*nfpm.Info, error) {
	version, err := Version(opts.Version)
	if err != nil {
		return nil, err
	}
	if err := fs.WalkDir(embedded, "files", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		return os.WriteFile(filepath.Join(stage, filepath.Base(p)), b, mode)
	}); err != nil {
		return nil, fmt.Errorf("stage packaged files: %w", err)
	}
	mtime := opts.MTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	mode := func(m os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: m, MTime: mtime}
	}
	staged := func(name string) string { return filepath.Join(stage, name) }
	info := &nfpm.Info{
		Name:          Name,
		Arch:          opts.Arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none",
		Release:       "1",
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    "Spillway maintainers <spillway@spillwayhq.dev>",
		Vendor:        "Spillway",
		Homepage:      "https://github.com/spillwayhq/spillway",
		License:       "Apache-2.0",
		Description: "Spillway edge forwarder, a drop-in for td-agent\n" +
			"Tails log files and accepts Fluentd in_http and forward-protocol input,\n" +
			"keeps every event in a checksummed disk buffer and ships it to the\n" +
			"Spillway ingest API or any Treasure Data import endpoint. One static\n" +
			"binary, run as the spillway user by a hardened systemd unit.",
		MTime: mtime,
		Overridables: nfpm.Overridables{
			Recommends: []string{"logrotate"},
			Contents: files.Contents{
				{Source: opts.Binary, Destination: BinaryPath, FileInfo: mode(0o755)},
				{Source: staged("spillway-forwarder.service"), Destination: UnitPath, FileInfo: mode(0o644)},
				{Source: staged("forwarder.yaml"), Destination: ConfigPath, Type: files.TypeConfigNoReplace, FileInfo: mode(0o644)},
				{Source: staged("logrotate"), Destination: LogrotPath, Type: files.TypeConfigNoReplace, FileInfo: mode(0o644)},
				{Destination: "/etc/spillway", Type: files.TypeDir, FileInfo: mode(0o750)},
			},
			Scripts: nfpm.Scripts{
				PostInstall: staged("postinstall.sh"),
				PreRemove:   staged("preremove.sh"),
				PostRemove:  staged("postremove.sh"),
			},
			RPM: nfpm.RPM{
				Group:       "System Environment/Daemons",
				Summary:     "Spillway edge forwarder, a drop-in for td-agent",
				Compression: "gzip",
			},
			Deb: nfpm.Deb{Compression: "gzip"},
		},
	}
	// useradd and groupadd (postinstall.sh).
	switch format {
	case "deb":
		info.Depends = []string{"passwd"}
	case "rpm":
		info.Depends = []string{"shadow-utils"}
	default:
		return nil, fmt.Errorf("format %q is not one of %v", format, Formats)
	}
	return info, nil
}

// Build writes one package per format in Formats for opts.Arch into
// opts.OutDir and returns their paths.
func Build(opts Options) ([]string, error) {
	if err := checkBinary(opts.Binary, opts.Arch); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", opts.OutDir, err)
	}
	stage, err := os.MkdirTemp("", "spillway-pkg-")
	if err != nil {
		return nil, fmt.Errorf("create staging directory: %w", err)
	}
	defer os.RemoveAll(stage)
	var out []string
	for _, format := range Formats {
		p, err := build(opts, stage, format)
		if err != nil {
			return out, fmt.Errorf("%s %s: %w", format, opts.Arch, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func build(opts Options, stage, format string) (path string, err error) {
	info, err := Info(opts, stage, format)
	if err != nil {
		return "", err
	}
	packager, err := nfpm.Get(format)
	if err != nil {
		return "", fmt.Errorf("packager: %w", err)
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", fmt.Errorf("prepare: %w", err)
	}
	path = filepath.Join(opts.OutDir, packager.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("create package: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", path, cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if err := packager.Package(info, f); err != nil {
		return "", fmt.Errorf("package: %w", err)
	}
	return path, nil
}
