// Package fault owns the crash hook that fanout and flush call at every named
// step boundary, driven by SPILLWAY_FAULT_POINT (a test hook; off by default).
package fault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// Func is called by the handler at every named step boundary. A non-nil
// error aborts the invocation at that point (tests use this to simulate a
// crash); the production hook from New exits the process instead.
type Func func(ctx context.Context, point string) error

// None is the Func used when fault injection is off.
func None(context.Context, string) error { return nil }

// New builds the hook for the SPILLWAY_FAULT_POINT value spec, a
// comma-separated list of:
//
//	"<point>"         call exit(3) every time the handler reaches <point>
//	"<point>@once"    call exit(3) the first time only: a marker file
//	                  spillway-fault-<fn>-<point> in markerDir (os.TempDir()
//	                  when empty) is created atomically and, once it exists,
//	                  the point is passed. Delete the file to re-arm.
//
// An empty spec turns injection off. "a@once,b@once" crashes once at a, then
// (after the caller's retry) once at b. fn names the function ("fanout",
// "flush") so one marker directory can serve several. exit is os.Exit in
// main; it is the only place the process exits.
func New(spec, fn, markerDir string, exit func(int)) Func {
	if strings.TrimSpace(spec) == "" {
		return None
	}
	once := map[string]bool{} // point -> crash only once
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		point, o := strings.CutSuffix(item, "@once")
		once[point] = o
	}
	if markerDir == "" {
		markerDir = os.TempDir()
	}
	return func(_ context.Context, p string) error {
		o, ok := once[p]
		if !ok {
			return nil
		}
		if o {
			f, err := os.OpenFile(filepath.Join(markerDir, "spillway-fault-"+fn+"-"+p), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if errors.Is(err, os.ErrExist) {
				return nil
			}
			if err == nil {
				_ = f.Sync()
				_ = f.Close()
			}
		}
		exit(3)
		return errors.New("fault point " + p + ": exit returned")
	}
}
