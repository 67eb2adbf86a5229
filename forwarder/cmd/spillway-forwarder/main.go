// Command spillway-forwarder is the Spillway edge forwarder: it tails files
// and accepts Fluentd http/forward input, buffers on disk and ships to a TD
// import API endpoint.
//
//	spillway-forwarder -config /etc/spillway/forwarder.yaml [--check]
//	spillway-forwarder convert [-o out.yaml] /etc/td-agent/td-agent.conf
//
// Signals: SIGUSR1 seals every chunk for shipping now; SIGTERM/SIGINT stop
// the inputs and ship within shutdown_timeout (the rest stays on disk);
// SIGHUP reopens the log file.
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
	"sync"
	"syscall"

	"github.com/spillwayhq/spillway/forwarder/agent"
	"github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/forwarder/convert"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "convert" {
		os.Exit(convert.Main(os.Args[2:], os.Stdout, os.Stderr))
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
	check := flag.Bool("check", false, "validate the configuration and exit")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file until exit")
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "spillway-forwarder: %v\n", err)
		return 2
	}
	if *check {
		fmt.Println("configuration OK")
		return 0
	}
	lw := &logWriter{path: cfg.Log.File}
	if err := lw.reopen(); err != nil {
		fmt.Fprintf(os.Stderr, "spillway-forwarder: %v\n", err)
		return 1
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	log := slog.New(slog.NewJSONHandler(lw, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			log.Error("cpu profile", "error", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	a, err := agent.New(cfg, log)
	if err != nil {
		log.Error("start", "error", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGHUP)
	go func() {
		for s := range sigs {
			switch s {
			case syscall.SIGUSR1:
				a.SealNow()
			case syscall.SIGHUP:
				if err := lw.reopen(); err != nil {
					log.Error("reopen log file", "error", err)
				} else {
					log.Info("log file reopened")
				}
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
