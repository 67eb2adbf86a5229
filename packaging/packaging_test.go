package packaging_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	rpmutils "github.com/sassoftware/go-rpmutils"
	"gopkg.in/yaml.v3"

	"github.com/spillwayhq/spillway/packaging"
)

const testVersion = "v1.4.2-3-gdeadbee"

func TestVersion(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "v1.2.3", want: "1.2.3"},
		{in: "1.2.3", want: "1.2.3"},
		{in: "v1.2.3-rc1", want: "1.2.3~rc1"},
		{in: "v1.2.3-4-gabc1234", want: "1.2.3+git4.gabc1234"},
		{in: "v1.2.3-rc.1-4-gabc1234-dirty", want: "1.2.3~rc.1+git4.gabc1234.dirty"},
		{in: "v1.2.3-dirty", want: "1.2.3+dirty"},
		{in: "a0360f5\n", want: "0.0.0+gita0360f5"},
		{in: "a0360f5-dirty", want: "0.0.0+gita0360f5.dirty"},
		{in: "", err: true},
		{in: "release one", err: true},
		{in: "v1.2", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := packaging.Version(tt.in)
			if tt.err {
				if err == nil {
					t.Fatalf("Version(%q) = %q, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Version(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if strings.Contains(got, "-") {
				t.Fatalf("Version(%q) = %q contains '-', which rpm forbids", tt.in, got)
			}
		})
	}
}

// required are the unit settings the package promises (forwarder/README.md,
// Packages).
var required = []struct{ section, key, want string }{
	{"Unit", "After", "network-online.target"},
	{"Service", "User", "spillway"},
	{"Service", "Group", "spillway"},
	{"Service", "SupplementaryGroups", "adm"},
	{"Service", "ExecStart", packaging.BinaryPath + " --config " + packaging.ConfigPath},
	{"Service", "ExecReload", "/bin/kill -HUP $MAINPID"},
	{"Service", "Restart", "on-failure"},
	{"Service", "RestartSec", "5s"},
	{"Service", "StateDirectory", "spillway-forwarder"},
	{"Service", "LogsDirectory", "spillway"},
	{"Service", "ConfigurationDirectory", "spillway"},
	{"Service", "ReadWritePaths", "-" + packaging.StateDir + " -" + packaging.LogDir},
	{"Service", "CapabilityBoundingSet", ""},
	{"Service", "AmbientCapabilities", ""},
	{"Service", "NoNewPrivileges", "yes"},
	{"Service", "ProtectSystem", "strict"},
	{"Service", "ProtectHome", "read-only"},
	{"Service", "PrivateTmp", "yes"},
	{"Service", "PrivateDevices", "yes"},
	{"Service", "RestrictSUIDSGID", "yes"},
	{"Service", "SystemCallFilter", "@system-service"},
	{"Install", "WantedBy", "multi-user.target"},
}

// optional are the other settings the unit may use: with required, the
// keys the Go check knows, so that a misspelt key fails without
// systemd-analyze too.
var optional = map[string][]string{
	"Unit": {"Description", "Documentation", "Wants", "StartLimitIntervalSec", "StartLimitBurst"},
	"Service": {"Type", "KillMode", "TimeoutStopSec", "EnvironmentFile", "LimitNOFILE", "UMask",
		"StateDirectoryMode", "LogsDirectoryMode", "ConfigurationDirectoryMode", "ProtectKernelTunables",
		"ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock", "ProtectHostname",
		"ProtectProc", "RestrictNamespaces", "RestrictRealtime", "RestrictAddressFamilies", "LockPersonality",
		"MemoryDenyWriteExecute", "RemoveIPC", "SystemCallArchitectures", "SystemCallErrorNumber"},
}

// TestUnit checks the packaged unit twice: always with the Go parser against
// the settings the package promises (and only known keys), and with `systemd-analyze verify` when
// systemd-analyze is installed (scripts/apt-packages.txt lists systemd), in a
// scratch root holding the unit, the binary its ExecStart names, /bin/kill
// and the host's units (for the targets it orders after).
func TestUnit(t *testing.T) {
	data, err := packaging.File("spillway-forwarder.service")
	if err != nil {
		t.Fatal(err)
	}
	u, err := packaging.ParseUnit(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range required {
		t.Run(r.section+"."+r.key, func(t *testing.T) {
			got, ok := u.Get(r.section, r.key)
			if !ok || got != r.want {
				t.Fatalf("[%s] %s = %q (set: %v), want %q", r.section, r.key, got, ok, r.want)
			}
		})
	}
	t.Run("known keys", func(t *testing.T) {
		known := map[string]bool{}
		for _, r := range required {
			known[r.section+"."+r.key] = true
		}
		for section, keys := range optional {
			for _, k := range keys {
				known[section+"."+k] = true
			}
		}
		for section, keys := range u {
			for k := range keys {
				if !known[section+"."+k] {
					t.Errorf("[%s] %s is not a key this test knows (misspelt? else add it to optional)", section, k)
				}
			}
		}
	})
	t.Run("systemd-analyze verify", func(t *testing.T) {
		sa, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Log("systemd-analyze not installed: the unit was checked by the Go parser only")
			return
		}
		root := t.TempDir()
		writeFile(t, filepath.Join(root, packaging.UnitPath), data, 0o644)
		writeFile(t, filepath.Join(root, packaging.BinaryPath), []byte("#!/bin/sh\n"), 0o755)
		copyHostFile(t, "/bin/kill", filepath.Join(root, "bin/kill"))
		hostUnits, err := filepath.Glob("/usr/lib/systemd/system/*.target")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range hostUnits {
			copyHostFile(t, p, filepath.Join(root, p))
		}
		out, err := exec.Command(sa, "verify", "--root="+root, packaging.UnitPath).CombinedOutput()
		if err != nil || bytes.Contains(out, []byte(packaging.Name)) {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
		t.Logf("systemd-analyze verify ran: no warning about the unit")
	})
}

// TestScripts checks the maintainer scripts' shell syntax with `sh -n`,
// then runs them with the arguments dpkg and rpm pass, against stub
// getent, groupadd, useradd, chown, chmod and systemctl that record their
// calls: the user is created only when missing (idempotent), the service is
// disabled on removal and left alone on upgrade. (/etc/spillway and
// /run/systemd/system do not exist on a test host, so the calls behind them
// are not reached.)
func TestScripts(t *testing.T) {
	for _, name := range []string{"postinstall.sh", "preremove.sh", "postremove.sh"} {
		t.Run(name+" syntax", func(t *testing.T) {
			data, err := packaging.File(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, []byte("#!/bin/sh\n")) {
				t.Fatalf("%s does not start with #!/bin/sh", name)
			}
			cmd := exec.Command("sh", "-n")
			cmd.Stdin = bytes.NewReader(data)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sh -n %s: %v\n%s", name, err, out)
			}
		})
	}
	tests := []struct {
		name, script string
		args         []string
		userExists   bool
		wantCalls    []string
	}{
		{name: "deb install", script: "postinstall.sh", args: []string{"configure", ""},
			wantCalls: []string{"getent group spillway", "groupadd --system spillway", "getent passwd spillway",
				"useradd --system --gid spillway --no-create-home --home-dir /var/lib/spillway-forwarder --shell /usr/sbin/nologin --comment Spillway forwarder spillway"}},
		{name: "rpm install", script: "postinstall.sh", args: []string{"1"},
			wantCalls: []string{"getent group spillway", "groupadd --system spillway", "getent passwd spillway",
				"useradd --system --gid spillway --no-create-home --home-dir /var/lib/spillway-forwarder --shell /usr/sbin/nologin --comment Spillway forwarder spillway"}},
		{name: "deb upgrade, user exists", script: "postinstall.sh", args: []string{"configure", "1.0.0-1"}, userExists: true,
			wantCalls: []string{"getent group spillway", "getent passwd spillway"}},
		{name: "rpm upgrade, user exists", script: "postinstall.sh", args: []string{"2"}, userExists: true,
			wantCalls: []string{"getent group spillway", "getent passwd spillway"}},
		{name: "deb remove", script: "preremove.sh", args: []string{"remove"}, wantCalls: []string{"systemctl disable spillway-forwarder.service"}},
		{name: "rpm erase", script: "preremove.sh", args: []string{"0"}, wantCalls: []string{"systemctl disable spillway-forwarder.service"}},
		{name: "deb upgrade keeps running", script: "preremove.sh", args: []string{"upgrade", "2.0.0-1"}},
		{name: "rpm upgrade keeps running", script: "preremove.sh", args: []string{"1"}},
		{name: "deb purge", script: "postremove.sh", args: []string{"purge"}},
		{name: "rpm upgrade", script: "postremove.sh", args: []string{"1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := runScript(t, tt.script, tt.args, tt.userExists)
			if !slices.Equal(calls, tt.wantCalls) {
				t.Fatalf("%s %q called\n%q\nwant\n%q", tt.script, tt.args, calls, tt.wantCalls)
			}
		})
	}
}

// runScript runs the packaged script with args and stub commands first on
// PATH, and returns the stubs' calls. getent succeeds when userExists.
func runScript(t testing.TB, name string, args []string, userExists bool) []string {
	t.Helper()
	data, err := packaging.File(name)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	for _, stub := range []string{"getent", "groupadd", "useradd", "chown", "chmod", "systemctl"} {
		status := "0"
		if stub == "getent" && !userExists {
			status = "2"
		}
		writeFile(t, filepath.Join(dir, "bin", stub), []byte("#!/bin/sh\necho \"$(basename \"$0\") $*\" >> \"$CALLS\"\nexit "+status+"\n"), 0o755)
	}
	script := filepath.Join(dir, name)
	writeFile(t, script, data, 0o755)
	cmd := exec.Command("/bin/sh", append([]string{script}, args...)...)
	cmd.Env = []string{"PATH=" + filepath.Join(dir, "bin") + ":/usr/bin:/bin", "CALLS=" + log}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	b, err := os.ReadFile(log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestForwarderDoesNotLinkNfpm keeps the packaging library out of the
// forwarder binary.
func TestForwarderDoesNotLinkNfpm(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/spillwayhq/spillway/forwarder/cmd/spillway-forwarder").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/goreleaser/") || strings.HasPrefix(dep, "github.com/sassoftware/") || dep == "github.com/spillwayhq/spillway/packaging" {
			t.Errorf("the forwarder links %s", dep)
		}
	}
}

// file is one entry of a package's payload.
type file struct {
	mode        os.FileMode
	owner, grp  string
	sum         [32]byte
	size        int64
	isDir, conf bool
}

// want lists the payload files every package carries, with their modes.
var want = map[string]os.FileMode{
	packaging.BinaryPath: 0o755,
	packaging.UnitPath:   0o644,
	packaging.ConfigPath: 0o644,
	packaging.LogrotPath: 0o644,
}

// TestPackages builds the packages for every architecture, reads back their
// metadata and contents (the .deb with a Go ar/tar reader, and with dpkg-deb
// when installed; the .rpm with go-rpmutils), and installs the native .deb
// into a scratch root to run the unit's ExecStart with --check.
func TestPackages(t *testing.T) {
	dir := t.TempDir()
	binaries := map[string]string{}
	for arch := range packaging.Archs {
		binaries[arch] = filepath.Join(dir, "spillway-forwarder-"+arch)
		if arch == runtime.GOARCH {
			buildForwarder(t, binaries[arch])
		} else {
			writeELF(t, binaries[arch], packaging.Archs[arch])
		}
	}
	wantVersion, err := packaging.Version(testVersion)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	debs := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		paths, err := packaging.Build(packaging.Options{Version: testVersion, Arch: arch, Binary: binaries[arch], OutDir: out, MTime: time.Unix(1_800_000_000, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) != 2 {
			t.Fatalf("Build(%s) wrote %v, want a .deb and a .rpm", arch, paths)
		}
		binSum := sha256File(t, binaries[arch])
		for _, p := range paths {
			t.Run(filepath.Base(p), func(t *testing.T) {
				var files map[string]file
				switch filepath.Ext(p) {
				case ".deb":
					debs[arch] = p
					files = checkDeb(t, p, arch, wantVersion)
				case ".rpm":
					files = checkRPM(t, p, arch, wantVersion)
				default:
					t.Fatalf("unexpected package %s", p)
				}
				for path, mode := range want {
					f, ok := files[path]
					if !ok {
						t.Errorf("%s missing", path)
						continue
					}
					if f.mode.Perm() != mode || f.owner != "root" || f.grp != "root" {
						t.Errorf("%s: %v %s:%s, want %v root:root", path, f.mode.Perm(), f.owner, f.grp, mode)
					}
				}
				if files[packaging.BinaryPath].sum != binSum {
					t.Errorf("%s is not the binary given", packaging.BinaryPath)
				}
				if !files[packaging.ConfigPath].conf || !files[packaging.LogrotPath].conf {
					t.Errorf("%s and %s must be configuration files (kept on upgrade)", packaging.ConfigPath, packaging.LogrotPath)
				}
				if d, ok := files["/etc/spillway"]; !ok || !d.isDir || d.mode.Perm() != 0o750 {
					t.Errorf("/etc/spillway: %+v, want a 0750 directory", d)
				}
			})
		}
	}
	t.Run("install and check", func(t *testing.T) {
		deb := debs[runtime.GOARCH]
		if deb == "" {
			t.Fatalf("no .deb built for %s", runtime.GOARCH)
		}
		checkInstalled(t, installDeb(t, deb))
	})
}

// checkInstalled runs the installed unit's ExecStart, with --check, from the
// scratch root, with the packaged configuration whose absolute paths are
// moved under root (the root is not /). The packaged configuration must pass,
// once the API key is written as the README says; before that (right after
// installing) --check may refuse it, but only for the missing key file. A
// typo must fail, which shows --check reads the file.
func checkInstalled(t *testing.T, root string) {
	t.Helper()
	unitData, err := os.ReadFile(filepath.Join(root, packaging.UnitPath))
	if err != nil {
		t.Fatal(err)
	}
	u, err := packaging.ParseUnit(unitData)
	if err != nil {
		t.Fatal(err)
	}
	execStart, _ := u.Get("Service", "ExecStart")
	argv := strings.Fields(execStart)
	i := slices.Index(argv, "--config")
	if len(argv) == 0 || i < 0 || i+1 >= len(argv) {
		t.Fatalf("ExecStart %q has no --config FILE", execStart)
	}
	conf, err := os.ReadFile(filepath.Join(root, argv[i+1]))
	if err != nil {
		t.Fatal(err)
	}
	rebased := rebase(t, conf, root)
	tests := []struct {
		name   string
		config []byte
		apiKey bool
		// ok: --check must pass; else its output must contain one of mayFail
		// (or it may pass).
		ok      bool
		mayFail []string
		mustErr string
	}{
		{name: "key written", config: rebased, apiKey: true, ok: true},
		{name: "right after install", config: rebased, mayFail: []string{"apikey"}},
		{name: "typo", config: append([]byte("sourcse: {}\n"), rebased...), apiKey: true, mustErr: "sourcse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := filepath.Join(root, "etc/spillway/apikey")
			os.Remove(key)
			if tt.apiKey {
				writeFile(t, key, []byte("1/0123456789abcdef\n"), 0o640)
			}
			if err := os.MkdirAll(filepath.Join(root, packaging.StateDir), 0o750); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(t.TempDir(), "forwarder.yaml")
			writeFile(t, cfg, tt.config, 0o644)
			args := slices.Clone(argv[1:])
			args[i] = cfg
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(root, argv[0]), append(args, "--check")...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("run %s: %v", cmd, err)
			}
			switch {
			case tt.mustErr != "":
				if err == nil || !bytes.Contains(out, []byte(tt.mustErr)) {
					t.Fatalf("--check: %v\n%s\nwant a failure naming %q", err, out, tt.mustErr)
				}
			case tt.ok:
				if err != nil || !bytes.Contains(out, []byte("configuration OK")) {
					t.Fatalf("--check: %v\n%s", err, out)
				}
			case err != nil:
				if !slices.ContainsFunc(tt.mayFail, func(s string) bool { return bytes.Contains(out, []byte(s)) }) {
					t.Fatalf("--check: %v\n%s\nwant success or a failure naming one of %q", err, out, tt.mayFail)
				}
				t.Logf("--check refused, as allowed: %s", bytes.TrimSpace(out))
			default:
				t.Logf("--check passed: %s", bytes.TrimSpace(out))
			}
		})
	}
}

// rebase moves the configuration's absolute paths under /etc/spillway,
// /var/lib and /var/log into root and binds its listeners to port 0 (the
// packaged ports may be taken on a test host).
func rebase(t testing.TB, conf []byte, root string) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(conf, &doc); err != nil {
		t.Fatalf("packaged config: %v", err)
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		for i, c := range n.Content {
			if c.Kind == yaml.ScalarNode && n.Kind == yaml.MappingNode && i%2 == 1 && n.Content[i-1].Value == "addr" {
				c.Value = "127.0.0.1:0"
				continue
			}
			if c.Kind == yaml.ScalarNode {
				for _, p := range []string{"/etc/spillway/", "/var/lib/", "/var/log/"} {
					if strings.HasPrefix(c.Value, p) {
						c.Value = filepath.Join(root, c.Value)
					}
				}
			}
			walk(c)
		}
	}
	walk(&doc)
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(root)) {
		t.Fatalf("rebased config names no path under %s:\n%s", root, out)
	}
	return out
}

// installDeb extracts deb into a new scratch root, with `dpkg-deb -x` when
// installed and with the Go reader otherwise, and returns the root.
func installDeb(t testing.TB, deb string) string {
	t.Helper()
	root := t.TempDir()
	if dpkgDeb, err := exec.LookPath("dpkg-deb"); err == nil {
		if out, err := exec.Command(dpkgDeb, "-x", deb, root).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
		}
		t.Log("installed with dpkg-deb -x")
		return root
	}
	data := debMember(t, deb, "data.tar.gz")
	if err := untar(data, root); err != nil {
		t.Fatal(err)
	}
	t.Log("dpkg-deb not installed: installed with the Go ar/tar reader")
	return root
}

// checkDeb reads the .deb at p (ar: debian-binary, control.tar.gz,
// data.tar.gz), checks its control file and scripts, cross-checks with
// dpkg-deb when installed, and returns its payload.
func checkDeb(t testing.TB, p, arch, version string) map[string]file {
	t.Helper()
	if got := string(debMember(t, p, "debian-binary")); got != "2.0\n" {
		t.Errorf("debian-binary = %q", got)
	}
	control := readTar(t, debMember(t, p, "control.tar.gz"))
	fields := parseControl(t, control["./control"].data)
	wantFields := map[string]string{
		"Package":      packaging.Name,
		"Version":      version + "-1",
		"Architecture": arch,
		"Maintainer":   "Spillway maintainers <spillway@spillwayhq.dev>",
		"Depends":      "passwd",
		"Recommends":   "logrotate",
		"Homepage":     "https://github.com/spillwayhq/spillway",
		"Section":      "admin",
	}
	for k, v := range wantFields {
		if fields[k] != v {
			t.Errorf("control %s = %q, want %q", k, fields[k], v)
		}
	}
	if !strings.Contains(fields["Description"], "td-agent") {
		t.Errorf("control Description = %q", fields["Description"])
	}
	conffiles := strings.Fields(string(control["./conffiles"].data))
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if e, ok := control["./"+s]; !ok || e.mode.Perm() != 0o755 {
			t.Errorf("control.tar.gz: %s missing or not 0755", s)
		}
	}
	data := readTar(t, debMember(t, p, "data.tar.gz"))
	files := map[string]file{}
	for name, e := range data {
		path := strings.TrimSuffix(strings.TrimPrefix(name, "."), "/")
		files[path] = file{mode: e.mode, owner: e.owner, grp: e.grp, sum: sha256.Sum256(e.data), size: int64(len(e.data)), isDir: e.isDir, conf: slices.Contains(conffiles, path)}
	}
	if dpkgDeb, err := exec.LookPath("dpkg-deb"); err == nil {
		out, err := exec.Command(dpkgDeb, "-f", p, "Package", "Version", "Architecture").Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f: %v", err)
		}
		if want := fmt.Sprintf("Package: %s\nVersion: %s-1\nArchitecture: %s\n", packaging.Name, version, arch); string(out) != want {
			t.Errorf("dpkg-deb -f:\n%s\nwant\n%s", out, want)
		}
		out, err = exec.Command(dpkgDeb, "-c", p).Output()
		if err != nil {
			t.Fatalf("dpkg-deb -c: %v", err)
		}
		for path := range want {
			if !bytes.Contains(out, []byte(" ."+path+"\n")) {
				t.Errorf("dpkg-deb -c does not list %s:\n%s", path, out)
			}
		}
		t.Log("dpkg-deb -f and -c agree with the Go reader")
	} else {
		t.Log("dpkg-deb not installed: read with the Go reader only")
	}
	return files
}

// checkRPM reads the .rpm at p with go-rpmutils, checks its metadata and
// scripts, and returns its payload's file list.
func checkRPM(t testing.TB, p, arch, version string) map[string]file {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := rpmutils.ReadRpm(f)
	if err != nil {
		t.Fatalf("read rpm: %v", err)
	}
	nevra, err := r.Header.GetNEVRA()
	if err != nil {
		t.Fatal(err)
	}
	rpmArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]
	if nevra.Name != packaging.Name || nevra.Version != version || nevra.Release != "1" || nevra.Arch != rpmArch {
		t.Errorf("NEVRA = %+v, want %s %s-1 %s", nevra, packaging.Name, version, rpmArch)
	}
	for tag, want := range map[int]string{rpmutils.LICENSE: "Apache-2.0", rpmutils.URL: "https://github.com/spillwayhq/spillway", rpmutils.VENDOR: "Spillway"} {
		if got, err := r.Header.GetString(tag); err != nil || got != want {
			t.Errorf("rpm tag %d = %q, %v; want %q", tag, got, err, want)
		}
	}
	if req, err := r.Header.GetStrings(rpmutils.REQUIRENAME); err != nil || !slices.Contains(req, "shadow-utils") {
		t.Errorf("rpm requires %q, %v; want shadow-utils", req, err)
	}
	for _, tag := range []int{rpmutils.POSTIN, rpmutils.PREUN, rpmutils.POSTUN} {
		if s, err := r.Header.GetString(tag); err != nil || !strings.HasPrefix(s, "#!/bin/sh") {
			t.Errorf("rpm script tag %d: %q, %v", tag, s, err)
		}
	}
	infos, err := r.Header.GetFiles()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]file{}
	for _, fi := range infos {
		var sum [32]byte
		if d, err := decodeHex(fi.Digest()); err == nil {
			sum = d
		}
		mode := os.FileMode(fi.Mode()).Perm()
		isDir := fi.Mode()&0o170000 == 0o040000
		conf := fi.Flags()&rpmutils.RPMFILE_CONFIG != 0 && fi.Flags()&rpmutils.RPMFILE_NOREPLACE != 0
		files[fi.Name()] = file{mode: mode, owner: fi.UserName(), grp: fi.GroupName(), sum: sum, size: fi.Size(), isDir: isDir, conf: conf}
	}
	return files
}

// decodeHex decodes a SHA-256 file digest as the rpm header stores it.
func decodeHex(s string) ([32]byte, error) {
	var out [32]byte
	if len(s) != 64 {
		return out, fmt.Errorf("digest %q is not SHA-256", s)
	}
	for i := range out {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return out, fmt.Errorf("digest %q: %w", s, err)
		}
		out[i] = byte(v)
	}
	return out, nil
}

// debMember returns the content of the ar member name of the .deb at p.
func debMember(t testing.TB, p, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := arMember(data, name)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(p), err)
	}
	return b
}

// arMember reads an ar archive (the .deb container) and returns member name.
func arMember(data []byte, name string) ([]byte, error) {
	const magic = "!<arch>\n"
	if !bytes.HasPrefix(data, []byte(magic)) {
		return nil, errors.New("not an ar archive")
	}
	rest := data[len(magic):]
	for len(rest) >= 60 {
		hdr := rest[:60]
		n, err := strconv.Atoi(strings.TrimSpace(string(hdr[48:58])))
		if err != nil || n < 0 || 60+n > len(rest) {
			return nil, fmt.Errorf("ar header %q: bad size", hdr)
		}
		member := strings.TrimSuffix(strings.TrimSpace(string(hdr[:16])), "/")
		body := rest[60 : 60+n]
		if member == name {
			return body, nil
		}
		rest = rest[60+n+n%2:]
	}
	return nil, fmt.Errorf("ar member %s not found", name)
}

// entry is one tar entry.
type entry struct {
	mode       os.FileMode
	owner, grp string
	data       []byte
	isDir      bool
}

// readTar reads a gzip-compressed tar into memory, by name.
func readTar(t testing.TB, tgz []byte) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	if err := walkTar(tgz, func(h *tar.Header, r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		out[h.Name] = entry{mode: h.FileInfo().Mode(), owner: h.Uname, grp: h.Gname, data: b, isDir: h.Typeflag == tar.TypeDir}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// untar extracts a gzip-compressed tar of directories and regular files under root.
func untar(tgz []byte, root string) error {
	return walkTar(tgz, func(h *tar.Header, r io.Reader) error {
		dst := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			return os.MkdirAll(dst, 0o755)
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, b, h.FileInfo().Mode().Perm())
		default:
			return fmt.Errorf("tar entry %s: type %c not supported", h.Name, h.Typeflag)
		}
	})
}

func walkTar(tgz []byte, fn func(*tar.Header, io.Reader) error) error {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		if err := fn(h, tr); err != nil {
			return fmt.Errorf("tar entry %s: %w", h.Name, err)
		}
	}
}

// parseControl reads a Debian control file (Key: value, continuation lines
// start with a space).
func parseControl(t testing.TB, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	last := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, " ") && last != "" {
			out[last] += "\n" + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("control line %q", line)
		}
		last = k
		out[k] = strings.TrimSpace(v)
	}
	return out
}

// buildForwarder builds the static forwarder for the host into path.
func buildForwarder(t testing.TB, path string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", path, "github.com/spillwayhq/spillway/forwarder/cmd/spillway-forwarder")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build forwarder: %v\n%s", err, out)
	}
}

// writeELF writes a header-only ELF executable for machine: enough for
// Build's architecture check, for an architecture the test cannot build
// cheaply.
func writeELF(t testing.TB, path string, machine elf.Machine) {
	t.Helper()
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT), Ehsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.Bytes(), 0o755)
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

func copyHostFile(t testing.TB, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, data, st.Mode().Perm())
}

func sha256File(t testing.TB, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}
