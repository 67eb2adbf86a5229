package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/local/proc"
)

// apiKeyEnv is the variable the replayed forwarder reads its API key from.
const apiKeyEnv = "SPILLWAY_REPLAY_API_KEY"

// ForwarderStats are the forwarder's counters when it was drained.
type ForwarderStats struct {
	Lines       uint64 `json:"lines"`        // lines read by tail sources
	ParseErrors uint64 `json:"parse_errors"` // lines kept unparsed
	Appended    uint64 `json:"appended"`     // records stored in the buffer
	Shipped     uint64 `json:"shipped"`      // records shipped
	Parked      uint64 `json:"parked"`       // chunks refused for good
	Files       int    `json:"files"`        // files tailed
}

// ReplayConfig rewrites a user's forwarder configuration for a replay and
// validates the result with the forwarder's own config package:
//   - every tail source reads from the head, with its position file under
//     stateDir (a replay never resumes);
//   - logs, when given, replace the tail paths: "GLOB" for a config with one
//     tail source, "NAME=GLOB" for the source named NAME (repeatable);
//   - relative tail paths of the file are resolved from baseDir (the
//     config file's directory);
//   - output goes to apiURL with the key in $SPILLWAY_REPLAY_API_KEY, no
//     standby; state, buffer and log live under stateDir; the monitor
//     listens on monitorAddr; http/forward sources listen on free ports.
//
// Everything else (parsers, tags, buffer and output tuning) is kept.
func ReplayConfig(data []byte, baseDir string, logs []string, stateDir, apiURL, monitorAddr string) ([]byte, config.Config, error) {
	if _, err := config.Parse(data); err != nil {
		return nil, config.Config{}, fmt.Errorf("forwarder config: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, config.Config{}, fmt.Errorf("forwarder config: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	level := "info"
	if l, ok := m["log"].(map[string]any); ok {
		if s, ok := l["level"].(string); ok && s != "" {
			level = s
		}
	}
	m["log"] = map[string]any{"level": level, "file": filepath.Join(stateDir, "forwarder.log")}
	m["state_dir"] = filepath.Join(stateDir, "state")
	if b, ok := m["buffer"].(map[string]any); ok {
		delete(b, "dir")
	}
	sources, _ := m["sources"].(map[string]any)
	var tails []any
	if sources != nil {
		tails, _ = sources["tail"].([]any)
		for _, k := range []string{"http", "forward"} {
			if s, ok := sources[k].(map[string]any); ok {
				s["addr"] = "127.0.0.1:0"
			}
		}
	}
	paths, err := assignLogs(tails, logs)
	if err != nil {
		return nil, config.Config{}, err
	}
	for i, t := range tails {
		tm, ok := t.(map[string]any)
		if !ok {
			continue
		}
		tm["read_from_head"] = true
		delete(tm, "pos_file")
		if p, ok := paths[i]; ok {
			tm["path"] = p
		} else if ps, ok := tm["path"].([]any); ok {
			for j, p := range ps {
				if s, ok := p.(string); ok && !filepath.IsAbs(s) {
					ps[j] = filepath.Join(baseDir, s)
				}
			}
		}
	}
	out, _ := m["output"].(map[string]any)
	if out == nil {
		out = map[string]any{}
		m["output"] = out
	}
	out["primary"] = map[string]any{"url": apiURL, "api_key_env": apiKeyEnv}
	delete(out, "standby")
	m["monitor"] = map[string]any{"addr": monitorAddr}
	b, err := yaml.Marshal(m)
	if err != nil {
		return nil, config.Config{}, fmt.Errorf("encode replay config: %w", err)
	}
	cfg, err := config.Parse(b)
	if err != nil {
		return nil, config.Config{}, fmt.Errorf("replay config: %w", err)
	}
	return b, cfg, nil
}

// assignLogs maps -logs values to tail source indexes.
func assignLogs(tails []any, logs []string) (map[int][]any, error) {
	out := map[int][]any{}
	if len(logs) == 0 {
		return out, nil
	}
	names := map[string]int{}
	for i, t := range tails {
		tm, _ := t.(map[string]any)
		name, _ := tm["name"].(string)
		if name == "" {
			name, _ = tm["tag"].(string)
		}
		names[name] = i
	}
	var errs []error
	for _, l := range logs {
		name, glob, named := strings.Cut(l, "=")
		idx := 0
		switch {
		case named:
			i, ok := names[name]
			if !ok {
				errs = append(errs, fmt.Errorf("-logs %s: no tail source named %q", l, name))
				continue
			}
			idx = i
		default:
			glob = l
			if len(tails) != 1 {
				errs = append(errs, fmt.Errorf("-logs %s: the config has %d tail sources; use -logs NAME=GLOB", l, len(tails)))
				continue
			}
		}
		abs, err := filepath.Abs(glob)
		if err != nil {
			errs = append(errs, fmt.Errorf("-logs %s: %w", l, err))
			continue
		}
		matches, err := filepath.Glob(abs)
		if err != nil || len(matches) == 0 {
			errs = append(errs, fmt.Errorf("-logs %s: matches no file", l))
			continue
		}
		out[idx] = append(out[idx], abs)
	}
	return out, errors.Join(errs...)
}

// forwarder is a running replay forwarder.
type forwarder struct {
	proc    *proc.Process
	monitor string
	logPath string
}

// BuildForwarder builds forwarder/cmd/spillway-forwarder of the module at
// root into dir and returns the binary's path.
func BuildForwarder(ctx context.Context, root, dir string, log io.Writer) (string, error) {
	bin := filepath.Join(dir, "spillway-forwarder")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./forwarder/cmd/spillway-forwarder")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build spillway-forwarder: %w", err)
	}
	return bin, nil
}

func startForwarder(bin, cfgPath, dir, apiKey, monitorAddr, logPath string) (*forwarder, error) {
	out, err := os.OpenFile(filepath.Join(dir, "forwarder.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("forwarder output: %w", err)
	}
	cmd := exec.Command(bin, "-config", cfgPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), apiKeyEnv+"="+apiKey)
	cmd.Stdout, cmd.Stderr = out, out
	p, err := proc.Start(cmd, proc.Options{})
	_ = out.Close()
	if err != nil {
		return nil, fmt.Errorf("start forwarder: %w", err)
	}
	return &forwarder{proc: p, monitor: "http://" + monitorAddr, logPath: logPath}, nil
}

// metrics reads the forwarder's Prometheus text: the sums of the counters
// the drain needs, the tail lag and the number of tailed files.
type metrics struct {
	stats              ForwarderStats
	lag                int64
	openChunks, sealed int64
}

func (f *forwarder) metrics(ctx context.Context) (metrics, error) {
	var m metrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.monitor+"/metrics", nil)
	if err != nil {
		return m, fmt.Errorf("forwarder metrics: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, fmt.Errorf("forwarder metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name, labels := line[:i], ""
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name, labels = name[:j], name[j:]
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		n := uint64(v)
		switch name {
		case "spillway_forwarder_tail_lines_total":
			m.stats.Lines += n
		case "spillway_forwarder_tail_parse_errors_total":
			m.stats.ParseErrors += n
		case "spillway_forwarder_buffer_appended_records_total":
			m.stats.Appended += n
		case "spillway_forwarder_output_records_total":
			m.stats.Shipped += n
		case "spillway_forwarder_output_parked_total":
			m.stats.Parked += n
		case "spillway_forwarder_tail_file_lag_bytes":
			m.stats.Files++
			m.lag += int64(v)
		case "spillway_forwarder_buffer_chunks":
			if strings.Contains(labels, `"open"`) {
				m.openChunks = int64(v)
			} else {
				m.sealed = int64(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("forwarder metrics: %w", err)
	}
	return m, nil
}

// drain waits until the forwarder has read every file to its end (at least
// minFiles files tailed), stored every record and shipped every chunk: at
// end of input it seals open chunks (SIGUSR1) so they ship now. It is done
// when two consecutive polls show no lag, an empty buffer and the same
// counters. It then stops the forwarder (SIGTERM) and returns its counters.
func (f *forwarder) drain(ctx context.Context, minFiles int, interval time.Duration) (ForwarderStats, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var prev *metrics
	var last error
	for {
		select {
		case <-f.proc.Done():
			return ForwarderStats{}, fmt.Errorf("forwarder exited early (%v); end of its log %s:\n%s", f.proc.Err(), f.logPath, f.logTail())
		default:
		}
		m, err := f.metrics(ctx)
		if err != nil {
			last = err
		} else {
			atEnd := m.stats.Files >= minFiles && m.lag == 0
			if atEnd && m.openChunks > 0 {
				_ = syscall.Kill(f.proc.PID(), syscall.SIGUSR1)
			}
			empty := m.openChunks == 0 && m.sealed == 0
			if atEnd && empty && prev != nil && prev.stats == m.stats && prev.lag == 0 {
				f.proc.Stop(30 * time.Second)
				return m.stats, nil
			}
			prev = &m
		}
		select {
		case <-ctx.Done():
			return ForwarderStats{}, fmt.Errorf("drain forwarder: %w (last error: %v); its log: %s", ctx.Err(), last, f.logPath)
		case <-t.C:
		}
	}
}

// logTail is the end of the forwarder's log, for errors.
func (f *forwarder) logTail() string { return proc.Tail(f.logPath, 2<<10) }

// countFiles counts the distinct files the tail sources' paths match now.
func countFiles(cfg config.Config) int {
	seen := map[string]bool{}
	for _, t := range cfg.Sources.Tail {
		for _, p := range t.Paths {
			ms, _ := filepath.Glob(p)
			for _, m := range ms {
				excluded := false
				for _, x := range t.Exclude {
					ok, _ := filepath.Match(x, m)
					excluded = excluded || ok
				}
				if !excluded {
					seen[m] = true
				}
			}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return len(keys)
}
