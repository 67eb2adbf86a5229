// Command spillway-forwarder is the Spillway edge forwarder: it tails files
// and accepts Fluentd http/forward input, buffers on disk and ships to a TD
// import API endpoint.
//
//	spillway-forwarder -config /etc/spillway/forwarder.yaml [--check]
//	spillway-forwarder convert [-o out.yaml] /etc/td-agent/td-agent.conf
//	spillway-forwarder --version
//
// --check validates the file, then checks what would stop a start (key
// files, environment variables, a writable state directory, free ports):
// one line per problem and a non-zero exit. A start-up error is one line
// on stderr and exit status 1; an invalid configuration exits 2.
//
// Signals: SIGUSR1 seals every chunk for shipping now; SIGTERM/SIGINT stop
// the inputs and ship within shutdown_timeout (the rest stays on disk);
// SIGHUP reopens the log file and reloads the configuration: log.level and
// log.file are applied, a change to any other key is refused (logged at
// ERROR with the keys) and the forwarder keeps running as it was.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"

	"github.com/spillwayhq/spillway/forwarder/agent"
	"github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/forwarder/convert"
	"github.com/spillwayhq/spillway/forwarder/internal/version"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "convert" {
		os.Exit(convert.Main(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "requeue" {
		os.Exit(requeueMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run())
}

// gcPercent is the forwarder's GOGC unless the environment sets one: with
// a live heap of ~20 MB under full load the collector runs a few times a
// second at any setting, so a heap goal of 1.5x live instead of 2x keeps
// peak RSS ~10 MB lower for no measurable CPU (BENCHMARKS.md).
const gcPercent = 50

func run() int {
	path := flag.String("config", "/etc/spillway/forwarder.yaml", "configuration file")
	check := flag.Bool("check", false, "validate the configuration, check key files, environment variables, the state directory and ports, and exit")
	showVersion := flag.Bool("version", false, "print the version and exit")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file until exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Get())
		return 0
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		printLines(err)
		return 2
	}
	if *check {
		if err := agent.Check(cfg); err != nil {
			printLines(err)
			return 1
		}
		fmt.Println("configuration OK")
		return 0
	}
	lw := &logWriter{path: cfg.Log.File}
	if err := lw.reopen(); err != nil {
		fmt.Fprintf(os.Stderr, "spillway-forwarder: log.file: %v\n", err)
		return 1
	}
	level := new(slog.LevelVar)
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	log := slog.New(newHandler(cfg.Log.Format, lw, level))
	slog.SetDefault(log)

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "spillway-forwarder: cpu profile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	a, err := agent.New(cfg, log)
	if err != nil {
		// One line on stderr (and in the log file, when there is one).
		fmt.Fprintf(os.Stderr, "spillway-forwarder: cannot start: %v\n", err)
		if cfg.Log.File != "" {
			log.Error("cannot start", "error", err)
		}
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGHUP)
	go func() {
		running := cfg
		for s := range sigs {
			switch s {
			case syscall.SIGUSR1:
				a.SealNow()
			case syscall.SIGHUP:
				running = reload(*path, running, lw, level, log)
			default:
				log.Info("stopping", "signal", s.String())
				cancel()
			}
		}
	}()
	if err := a.Run(ctx); err != nil {
		log.Error("stopped with error", "error", err)
		return 1
	}
	return 0
}

// printLines writes err to stderr, one line per problem.
func printLines(err error) {
	for _, l := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(os.Stderr, "spillway-forwarder: %s\n", l)
	}
}

// newHandler is the log handler of log.format: json (default) or text.
func newHandler(format string, w io.Writer, level slog.Leveler) slog.Handler {
	o := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.NewTextHandler(w, o)
	}
	return slog.NewJSONHandler(w, o)
}

// reload is SIGHUP: reopen the log file (logrotate), then read the
// configuration file again. When only keys that can change live differ
// (config.Reloadable: log.level, log.file), they are applied; when any
// other key differs, nothing is applied and the keys are logged at ERROR.
// It returns the configuration now in effect.
func reload(path string, running config.Config, lw *logWriter, level *slog.LevelVar, log *slog.Logger) config.Config {
	if err := lw.reopen(); err != nil {
		log.Error("reopen log file", "error", err)
	} else {
		log.Info("log file reopened")
	}
	next, err := config.Load(path)
	if err != nil {
		log.Error("reload refused: the configuration file is invalid; running as before", "error", err)
		return running
	}
	apply, restart := config.Reload(running, next)
	if len(restart) > 0 {
		log.Error("reload refused: these keys cannot change while running; restart to apply them (nothing was applied)", "keys", restart)
		return running
	}
	if len(apply) == 0 {
		log.Info("configuration reloaded: no change")
		return running
	}
	if next.Log.File != running.Log.File {
		old := lw.path
		lw.path = next.Log.File
		if err := lw.reopen(); err != nil {
			lw.path = old
			log.Error("reload refused: cannot open the new log.file; running as before", "error", err)
			return running
		}
	}
	_ = level.UnmarshalText([]byte(next.Log.Level))
	log.Info("configuration reloaded", "applied", apply)
	return next
}

// logWriter writes to a file that SIGHUP reopens (for logrotate), or stderr.
type logWriter struct {
	path string
	mu   sync.Mutex
	w    io.WriteCloser
}

func (l *logWriter) reopen() error {
	if l.path == "" {
		l.mu.Lock()
		l.w = os.Stderr
		l.mu.Unlock()
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	l.mu.Lock()
	old := l.w
	l.w = f
	l.mu.Unlock()
	if old != nil && old != os.Stderr {
		old.Close()
	}
	return nil
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
