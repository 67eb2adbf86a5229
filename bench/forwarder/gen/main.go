// Command gen writes N seeded Apache combined log lines to stdout or -o.
//
//	go run ./bench/forwarder/gen -n 2000000 -seed 1 -o /tmp/access.log
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/spillwayhq/spillway/bench/forwarder/apachegen"
)

func main() {
	n := flag.Int("n", 2000000, "lines")
	seed := flag.Uint64("seed", 1, "seed")
	out := flag.String("o", "", "output file (default stdout)")
	flag.Parse()
	w := os.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		w = f
	}
	if err := apachegen.Write(w, *n, *seed); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
