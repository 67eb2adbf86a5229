// Command mkpkg builds the spillway-forwarder .deb and .rpm packages for each
// architecture from the static binaries `make forwarder` writes:
//
//	mkpkg -version "$(git describe --tags --dirty)" -binary 'dist/spillway-forwarder-linux-{arch}' -out dist/packages
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spillwayhq/spillway/packaging"
)

func main() { os.Exit(run()) }

func run() int {
	version := flag.String("version", "", "git describe --tags output or a version (required)")
	archs := flag.String("arch", "amd64,arm64", "Go architectures, separated by commas or spaces")
	binary := flag.String("binary", "dist/spillway-forwarder-linux-{arch}", "the forwarder binary; {arch} is replaced")
	out := flag.String("out", "dist/packages", "output directory")
	flag.Parse()
	// Reproducible builds: SOURCE_DATE_EPOCH stamps the files when set.
	var mtime time.Time
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mkpkg: SOURCE_DATE_EPOCH %q: %v\n", s, err)
			return 2
		}
		mtime = time.Unix(sec, 0).UTC()
	}
	for _, arch := range strings.Fields(strings.ReplaceAll(*archs, ",", " ")) {
		paths, err := packaging.Build(packaging.Options{
			Version: *version,
			Arch:    arch,
			Binary:  strings.ReplaceAll(*binary, "{arch}", arch),
			OutDir:  *out,
			MTime:   mtime,
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "mkpkg: %v\n", err)
			return 1
		}
		for _, p := range paths {
			st, err := os.Stat(p)
			if err != nil {
				fmt.Fprintf(os.Stderr, "mkpkg: %v\n", err)
				return 1
			}
			fmt.Printf("built %s (%d bytes)\n", p, st.Size())
		}
	}
	return 0
}
