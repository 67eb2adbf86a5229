package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/forwarder/config"
)

// requeueMain serves `spillway-forwarder requeue [-config F] [-dry-run]
// [chunk-id-prefix ...]`: parked chunks (failed/ in every buffer directory
// under the configuration's buffer dir) go back into their queue. Exit
// codes: 0 done (or nothing parked), 1 a chunk could not be moved, 2 a
// usage or configuration error.
func requeueMain(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("requeue", flag.ContinueOnError)
	fl.SetOutput(stderr)
	path := fl.String("config", "/etc/spillway/forwarder.yaml", "configuration file")
	dryRun := fl.Bool("dry-run", false, "list what would be requeued, move nothing")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: spillway-forwarder requeue [-config F] [-dry-run] [chunk-id-prefix ...]")
		fmt.Fprintln(stderr, "Moves parked chunks back into their queue; stop the forwarder first (it picks them up when it starts).")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	var dirs []string
	err = filepath.WalkDir(cfg.Buffer.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "failed" {
			dirs = append(dirs, filepath.Dir(p))
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "find parked chunks under %s: %v\n", cfg.Buffer.Dir, err)
		return 1
	}
	total := 0
	for _, d := range dirs {
		n, err := buffer.Requeue(d, fl.Args(), *dryRun, stdout)
		total += n
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	verb := "requeued"
	if *dryRun {
		verb = "would requeue"
	}
	fmt.Fprintf(stdout, "%s %d chunk(s)\n", verb, total)
	return 0
}
