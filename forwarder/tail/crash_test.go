package tail

import (
	"os"
	"testing"
)

func TestCrashBeforeFirstPositionFileThenRotation(t *testing.T) {
	e := newEnv(t, nil)
	e.write(e.log, 729)
	e.poll()
	e.crash()
	if err := os.Remove(e.cfg.PosFile); err != nil {
		t.Fatal(err)
	}
	mustRename(t, e.log, e.log+".1")
	e.write(e.log, 300)
	e.start()
	e.pollPast()
	e.exactlyOnce(0)
}

func TestCopytruncateWhileStopped(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "stop", true: "crash"}[crash], func(t *testing.T) {
			e := newEnv(t, nil)
			e.write(e.log, 300)
			e.poll()
			e.write(e.log, 20) // unread when the copy is made
			if crash {
				e.crash()
			} else {
				e.stop()
			}
			copyFile(t, e.log, e.log+".1")
			if err := os.Truncate(e.log, 0); err != nil {
				t.Fatal(err)
			}
			e.write(e.log, 100)
			e.start()
			e.pollPast()
			e.exactlyOnce(0)
		})
	}
}
