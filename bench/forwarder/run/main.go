// Command run benchmarks the forwarder end to end on generated Apache
// combined lines: tail (from head) -> apache2 parser -> zstd -> fsynced
// disk buffer -> TD import (msgpack.zst) to a local TD import receiver
// (internal/tdtest) in this process. It reports lines/s, MB/s, CPU per line
// and per GB (getrusage of the child), peak RSS, when the receiver had 1%,
// 50% and 99% of the records and the receiver's own CPU, next to raw limits
// measured in the same run (read, parse-only, compress-only), and the same
// for fluent-bit when it is on PATH (-fluent-bit=false skips it).
//
//	go run ./bench/forwarder/run -n 2000000 -seed 1
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/spillwayhq/spillway/bench/forwarder/apachegen"
	"github.com/spillwayhq/spillway/forwarder/parser"
	"github.com/spillwayhq/spillway/internal/tdtest"
)

func main() {
	n := flag.Int("n", 2000000, "lines")
	seed := flag.Uint64("seed", 1, "generator seed")
	bin := flag.String("bin", "", "forwarder binary (default: build it)")
	input := flag.String("input", "", "use this log file instead of generating one")
	peer := flag.Bool("fluent-bit", true, "also run fluent-bit the same way when it is on PATH")
	flag.Parse()
	if err := run(*n, *seed, *bin, *input, *peer); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(1)
	}
}

func run(n int, seed uint64, bin, input string, peer bool) error {
	dir, err := os.MkdirTemp("", "spillway-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logPath := filepath.Join(dir, "access.log")
	if input != "" {
		data, err := os.ReadFile(input)
		if err != nil {
			return err
		}
		if err := os.WriteFile(logPath, data, 0o644); err != nil {
			return err
		}
		n = bytes.Count(data, []byte("\n"))
	} else {
		f, err := os.Create(logPath)
		if err != nil {
			return err
		}
		if err := apachegen.Write(f, n, seed); err != nil {
			return err
		}
		f.Close()
	}
	fi, _ := os.Stat(logPath)
	size := fi.Size()
	fmt.Printf("input: %d lines, %.1f MB\n\n", n, float64(size)/1e6)

	if err := limits(logPath, n, size); err != nil {
		return err
	}

	if bin == "" {
		bin = filepath.Join(dir, "spillway-forwarder")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./forwarder/cmd/spillway-forwarder")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	if st, err := os.Stat(bin); err == nil {
		fmt.Printf("binary: %s, %.1f MB (CGO_ENABLED=0, -trimpath -s -w)\n\n", bin, float64(st.Size())/1e6)
	}

	recv, err := tdtest.New(tdtest.Config{APIKey: "bench", AutoCreate: true, CountOnly: true})
	if err != nil {
		return err
	}
	var fbLines atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("/v3/", recv)
	mux.HandleFunc("/fluentbit", func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			rd = zr
		}
		data, _ := io.ReadAll(rd)
		fbLines.Add(int64(bytes.Count(data, []byte("\n"))))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String()

	cfg := fmt.Sprintf(`state_dir: %s
log: {file: %s}
sources:
  tail:
    - name: bench
      path: [%q]
      tag: td.bench.access
      read_from_head: true
      parse: {type: apache2}
buffer:
  chunk_limit: 8388608
  flush_interval: 1s
output:
  primary: {url: %q, api_key: bench}
  concurrency: 2
monitor: {disabled: true}
`, filepath.Join(dir, "state"), filepath.Join(dir, "forwarder.log"), logPath, url)
	cfgPath := filepath.Join(dir, "forwarder.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	res, err := measure(exec.Command(bin, "-config", cfgPath), func() int64 { return int64(recv.Count("bench", "access")) }, int64(n))
	if err != nil {
		return err
	}
	report("spillway-forwarder (tail+apache2+fsync buffer+zstd+TD import)", res, n, size)

	if !peer {
		fmt.Println("fluent-bit: not run (-fluent-bit=false)")
		return nil
	}
	if fb, err := exec.LookPath("fluent-bit"); err == nil {
		fbCfg := fmt.Sprintf(`[SERVICE]
    Flush 1
    Log_Level error
    Parsers_File %s
[INPUT]
    Name tail
    Path %s
    Read_from_Head true
    Parser apache2
    DB %s
[OUTPUT]
    Name http
    Match *
    Host 127.0.0.1
    Port %d
    URI /fluentbit
    Format json_lines
    Compress gzip
`, filepath.Join(dir, "parsers.conf"), logPath, filepath.Join(dir, "fb.db"), ln.Addr().(*net.TCPAddr).Port)
		parsers := `[PARSER]
    Name   apache2
    Format regex
    Regex  ^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^ ]*) +\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>.*)")?$
    Time_Key time
    Time_Format %d/%b/%Y:%H:%M:%S %z
`
		_ = os.WriteFile(filepath.Join(dir, "parsers.conf"), []byte(parsers), 0o600)
		fbPath := filepath.Join(dir, "fluent-bit.conf")
		_ = os.WriteFile(fbPath, []byte(fbCfg), 0o600)
		res, err := measure(exec.Command(fb, "-c", fbPath), fbLines.Load, int64(n))
		if err != nil {
			fmt.Println("fluent-bit:", err)
		} else {
			report("fluent-bit (tail+apache2 regex+http json_lines gzip)", res, n, size)
		}
	} else {
		fmt.Println("fluent-bit: not on PATH, skipped")
	}
	return nil
}

type result struct {
	wall      time.Duration
	cpu       time.Duration
	maxRSSKiB int64
	recvCPU   time.Duration // this process (the receiver) meanwhile
	marks     []time.Duration
}

// selfCPU returns this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure starts cmd, waits until count() reaches want, stops it with
// SIGTERM and returns wall time to completion and the child's rusage.
func measure(cmd *exec.Cmd, count func() int64, want int64) (result, error) {
	start, self := time.Now(), selfCPU()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var marks []time.Duration
	for count() < want {
		for len(marks) < len(markAt) && count() >= int64(markAt[len(marks)]*float64(want)) {
			marks = append(marks, time.Since(start))
		}
		select {
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return result{}, fmt.Errorf("timed out at %d of %d records", count(), want)
		case <-tick.C:
		}
	}
	wall := time.Since(start)
	recvCPU := selfCPU() - self
	for len(marks) < len(markAt) {
		marks = append(marks, wall)
	}
	hwm := vmHWM(cmd.Process.Pid)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r := result{wall: wall, recvCPU: recvCPU, marks: marks}
	if ru != nil {
		r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	// ru_maxrss of a child counts the parent's pages copied before exec,
	// so the peak is read from /proc while the child runs.
	r.maxRSSKiB = hwm
	return r, nil
}

// vmHWM returns the peak resident set size of pid in KiB (Linux).
func vmHWM(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// markAt are the fractions of the records at which the receiver's progress
// is timed.
var markAt = []float64{0.01, 0.5, 0.99}

func report(name string, r result, n int, size int64) {
	fmt.Printf("%s\n  wall %.2fs  %.0f lines/s  %.1f MB/s  CPU %.2fs = %.2f us/line = %.1f CPU-s/GB  peak RSS %.1f MB\n",
		name, r.wall.Seconds(), float64(n)/r.wall.Seconds(), float64(size)/1e6/r.wall.Seconds(),
		r.cpu.Seconds(), r.cpu.Seconds()*1e6/float64(n), r.cpu.Seconds()/(float64(size)/1e9), float64(r.maxRSSKiB)/1024)
	steady := "all in one shipment"
	if d := r.marks[2] - r.marks[0]; d > 0 {
		steady = fmt.Sprintf("%.0f lines/s between 1%% and 99%%", 0.98*float64(n)/d.Seconds())
	}
	fmt.Printf("  receiver had 1%% / 50%% / 99%% of the records at %.2fs / %.2fs / %.2fs (%s); receiver CPU %.2fs (%.2f us/line)\n\n",
		r.marks[0].Seconds(), r.marks[1].Seconds(), r.marks[2].Seconds(), steady,
		r.recvCPU.Seconds(), r.recvCPU.Seconds()*1e6/float64(n))
}

// limits measures, in this process, reading the file in 1 MiB blocks,
// parsing every line with the apache2 parser into 2 MiB batches (as the
// forwarder's tail does), and compressing the parser's msgpack output (the
// first 64 MiB of it) in 1 MiB pieces with zstd (fastest, as the buffer
// stores it) and gzip level 1.
func limits(path string, n int, size int64) error {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	lines := 0
	for {
		m, err := f.Read(buf)
		lines += bytes.Count(buf[:m], []byte("\n"))
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	f.Close()
	read := time.Since(start)

	p, err := parser.New(parser.Config{Type: parser.TypeApache2})
	if err != nil {
		return err
	}
	f, _ = os.Open(path)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var sample []byte
	sampleLines, batchLines := 0, 0
	batch := make([]byte, 0, 3<<20)
	now := time.Now()
	start = time.Now()
	for sc.Scan() {
		before := len(batch)
		batch, err = p.AppendRecord(batch, sc.Bytes(), now)
		if err != nil {
			batch = parser.AppendUnparsed(batch[:before], sc.Bytes(), now)
		}
		if batchLines++; len(batch) >= 2<<20 {
			if len(sample) < 64<<20 {
				sample = append(sample, batch...)
				sampleLines += batchLines
			}
			batch, batchLines = batch[:0], 0
		}
	}
	f.Close()
	parse := time.Since(start)
	if sampleLines == 0 {
		sample, sampleLines = batch, batchLines
	}

	fmt.Printf("raw limits (this process, one core):\n")
	fmt.Printf("  read     %.0f lines/s  %.0f MB/s\n", float64(lines)/read.Seconds(), float64(size)/1e6/read.Seconds())
	fmt.Printf("  parse    %.0f lines/s  %.2f us/line (apache2 to msgpack, bufio.Scanner split)\n", float64(n)/parse.Seconds(), parse.Seconds()*1e6/float64(n))
	zenc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		fn   func(piece []byte) int
	}{
		{"zstd-1", func(piece []byte) int { return len(zenc.EncodeAll(piece, nil)) }},
		{"gzip-1", func(piece []byte) int {
			var out bytes.Buffer
			zw, _ := kgzip.NewWriterLevel(&out, 1)
			_, _ = zw.Write(piece)
			_ = zw.Close()
			return out.Len()
		}},
	} {
		start, total := time.Now(), 0
		for off := 0; off < len(sample); off += 1 << 20 {
			total += c.fn(sample[off:min(off+1<<20, len(sample))])
		}
		d := time.Since(start)
		fmt.Printf("  %s   %.0f lines/s  %.0f MB/s of msgpack  %.2f us/line  ratio %.1f (first %.0f MB of msgpack)\n", c.name,
			float64(sampleLines)/d.Seconds(), float64(len(sample))/1e6/d.Seconds(), d.Seconds()*1e6/float64(sampleLines),
			float64(len(sample))/float64(total), float64(len(sample))/1e6)
	}
	fmt.Println()
	return nil
}
