// Package version owns the forwarder's build identity: the version and
// revision stamped by the build (make forwarder sets them with
// -ldflags -X), falling back to what the Go toolchain recorded in the
// binary (runtime/debug.ReadBuildInfo).
package version

import (
	"runtime"
	"runtime/debug"
)

// Set at link time:
//
//	-X github.com/spillwayhq/spillway/forwarder/internal/version.version=v1.2.3
//	-X github.com/spillwayhq/spillway/forwarder/internal/version.revision=<git sha>
var (
	version  string
	revision string
)

// Info is the build identity.
type Info struct {
	Version   string // release version, "(devel)" for a plain go build
	Revision  string // VCS revision, "unknown" when not recorded
	GoVersion string // toolchain, e.g. go1.26.8
}

// Get returns the build identity: the link-time values when set, else the
// module version and vcs.revision the toolchain recorded, else "(devel)"
// and "unknown".
func Get() Info {
	i := Info{Version: version, Revision: revision, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if i.Version == "" && bi.Main.Version != "" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && i.Revision == "" {
				i.Revision = s.Value
			}
		}
	}
	if i.Version == "" {
		i.Version = "(devel)"
	}
	if i.Revision == "" {
		i.Revision = "unknown"
	}
	return i
}

// String is the --version line: "spillway-forwarder <version> (<revision>, <go>)".
func (i Info) String() string {
	return "spillway-forwarder " + i.Version + " (" + i.Revision + ", " + i.GoVersion + ")"
}
