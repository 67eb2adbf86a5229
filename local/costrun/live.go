package costrun

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	fwdconfig "github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/forwarder/parser"
	"github.com/spillwayhq/spillway/forwarder/tail"
)

// liveTimeKey is the parser time_key LiveForwarderConfig sets: a field no
// parser produces, so every event is timed when it is read.
const liveTimeKey = "spillway_cost_read_time"

// LiveForwarderConfig rewrites a forwarder configuration so that every
// tail source's parser takes its time from a field no record has
// (time_key: spillway_cost_read_time): the forwarder then times each event
// when it reads the line, as a live tail of the same file would have it.
// Lines, their order and every other field are unchanged (the record's
// "time" is always the integer event time, so the parsed time field is
// replaced either way). The apache2 parser ignores time_key (as Fluentd's
// does): LiveCorpus rewrites its times in a copy of the corpus instead.
func LiveForwarderConfig(data []byte) ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("forwarder config: %w", err)
	}
	sources, _ := m["sources"].(map[string]any)
	tails, _ := sources["tail"].([]any)
	if len(tails) == 0 {
		return nil, errors.New("forwarder config: no tail source to replay")
	}
	for _, t := range tails {
		tm, ok := t.(map[string]any)
		if !ok {
			continue
		}
		p, _ := tm["parse"].(map[string]any)
		if p == nil {
			p = map[string]any{}
			tm["parse"] = p
		}
		p["time_key"] = liveTimeKey
		delete(p, "keep_time_key")
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode live forwarder config: %w", err)
	}
	if _, err := fwdconfig.Parse(out); err != nil {
		return nil, fmt.Errorf("live forwarder config: %w", err)
	}
	return out, nil
}

// clfTime is the first Common Log Format timestamp of a line, the time
// the apache2 parser reads: [17/May/2015:10:05:03 +0000].
var clfTime = regexp.MustCompile(`\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]`)

// clfLayout formats a time as clfTime matches it, in UTC (same length).
const clfLayout = "[02/Jan/2006:15:04:05 -0700]"

// LiveCorpus writes to dst a copy of the corpus src for the live window
// when a tail source of cfg (a forwarder configuration) uses the apache2
// parser, which takes its time from the line whatever time_key says: each
// line's first Common Log Format timestamp becomes now (the replay clock,
// UTC, same length), every other byte unchanged. It reports whether it
// wrote the copy; without an apache2 source the corpus is replayed as is.
func LiveCorpus(src, dst string, cfg []byte, now time.Time) (bool, error) {
	c, err := fwdconfig.Parse(cfg)
	if err != nil {
		return false, fmt.Errorf("forwarder config: %w", err)
	}
	if !slices.ContainsFunc(c.Sources.Tail, func(t tail.Config) bool { return t.Parse.Type == parser.TypeApache2 }) {
		return false, nil
	}
	in, err := os.Open(src)
	if err != nil {
		return false, fmt.Errorf("open corpus: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return false, fmt.Errorf("live corpus: %w", err)
	}
	stamp := []byte(now.UTC().Format(clfLayout))
	r, w := bufio.NewReaderSize(in, 1<<20), bufio.NewWriterSize(out, 1<<20)
	for {
		line, rerr := r.ReadBytes('\n')
		if loc := clfTime.FindIndex(line); loc != nil {
			copy(line[loc[0]:loc[1]], stamp)
		}
		if _, err := w.Write(line); err != nil {
			out.Close()
			return false, fmt.Errorf("live corpus: %w", err)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			out.Close()
			return false, fmt.Errorf("read corpus: %w", rerr)
		}
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return false, fmt.Errorf("live corpus: %w", err)
	}
	if err := out.Close(); err != nil {
		return false, fmt.Errorf("live corpus: %w", err)
	}
	return true, nil
}

// firstLine copies the first line of the corpus src to dst.
func firstLine(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open corpus: %w", err)
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 1<<20).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read corpus: %w", err)
	}
	if err := os.WriteFile(dst, line, 0o600); err != nil {
		return fmt.Errorf("warm-up corpus: %w", err)
	}
	return nil
}
