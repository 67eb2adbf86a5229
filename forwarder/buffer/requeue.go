package buffer

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Requeue moves parked chunks of the buffer directory dir (failed/<chunk>
// and its .response) back into the queue, those whose id starts with one of
// ids, or all when ids is empty, and writes a line per chunk to w: its id,
// and the reason it was parked. With dryRun it only writes the lines. Run it
// while the forwarder is stopped: a buffer picks up requeued chunks when it
// opens. It returns the number of chunks (to be) requeued.
//
// A requeued chunk is sent again under its own id (the TD unique_id), so a
// chunk the pipeline did store (its answer lost) is stored once while the
// ledger keeps its entry; past the resend horizon it may be stored twice.
func Requeue(dir string, ids []string, dryRun bool, w io.Writer) (int, error) {
	failed := filepath.Join(dir, failedDir)
	ents, err := os.ReadDir(failed)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", failed, err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), sealedExt) && wanted(e.Name(), ids) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		resp, _ := os.ReadFile(filepath.Join(failed, name+".response"))
		verb := "requeued"
		if dryRun {
			verb = "would requeue"
		}
		fmt.Fprintf(w, "%s %s: parked with %s\n", verb, filepath.Join(dir, name), oneLine(resp))
		if dryRun {
			continue
		}
		if err := os.Rename(filepath.Join(failed, name), filepath.Join(dir, name)); err != nil {
			return 0, fmt.Errorf("requeue %s: %w", name, err)
		}
		if err := os.Remove(filepath.Join(failed, name+".response")); err != nil && !os.IsNotExist(err) {
			return 0, fmt.Errorf("requeue %s: %w", name, err)
		}
	}
	if len(names) > 0 && !dryRun {
		if err := syncDir(dir); err != nil {
			return 0, err
		}
		if err := syncDir(failed); err != nil {
			return 0, err
		}
	}
	return len(names), nil
}

func wanted(name string, ids []string) bool {
	if len(ids) == 0 {
		return true
	}
	for _, id := range ids {
		if id != "" && strings.HasPrefix(name, id) {
			return true
		}
	}
	return false
}

// oneLine squeezes a parked chunk's response onto one line of at most 300
// bytes.
func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if s == "" {
		return "no recorded response"
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
