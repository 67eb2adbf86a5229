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
