package convert

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spillwayhq/spillway/forwarder/config"
)

// Exit statuses of the convert command.
const (
	ExitOK        = 0 // everything carried over
	ExitError     = 2 // nothing written: bad arguments or input
	ExitOmissions = 3 // written, with directives not carried over
)

// Main runs "spillway-forwarder convert [-o out.yaml] td-agent.conf": it
// writes the YAML to -o (atomically: never a half-written file) or stdout,
// lists what was not carried over on stderr, and returns ExitOK,
// ExitOmissions or ExitError.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the forwarder YAML to this file (default: standard output)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: spillway-forwarder convert [-o out.yaml] td-agent.conf")
		fmt.Fprintln(stderr, "exit status: 0 all carried over, 3 written with omissions (see the comments), 2 error")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return ExitError
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return ExitError
	}
	in := fs.Arg(0)
	res, err := File(in)
	if err != nil {
		fmt.Fprintf(stderr, "spillway-forwarder convert: %v\n", err)
		return ExitError
	}
	if *out == "" {
		if _, err := stdout.Write(res.YAML); err != nil {
			fmt.Fprintf(stderr, "spillway-forwarder convert: %v\n", err)
			return ExitError
		}
	} else if err := writeFile(*out, res.YAML); err != nil {
		fmt.Fprintf(stderr, "spillway-forwarder convert: %v\n", err)
		return ExitError
	}
	for _, r := range res.Omissions {
		fmt.Fprintf(stderr, "%s:%d: not carried over: %s\n", in, r.Line, r.Text)
	}
	if _, err := config.Parse(res.YAML); err != nil {
		fmt.Fprintf(stderr, "spillway-forwarder convert: the YAML written does not pass --check yet; edit it:\n%v\n", err)
		return ExitOmissions
	}
	if len(res.Omissions) > 0 {
		return ExitOmissions
	}
	return ExitOK
}

// File reads and converts the td-agent configuration at path.
func File(path string) (Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Result{}, fmt.Errorf("read %s: %w", path, err)
	}
	root, err := Parse(data)
	if err != nil {
		return Result{}, fmt.Errorf("parse %s: %w", path, err)
	}
	res, err := Convert(root, filepath.Base(path))
	if err != nil {
		return Result{}, fmt.Errorf("convert %s: %w", path, err)
	}
	return res, nil
}

// writeFile writes data to path through a temporary file in the same
// directory, renamed into place; mode 0600 (the YAML may hold a key).
func writeFile(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".convert-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
