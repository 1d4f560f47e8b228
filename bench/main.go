package main

import (
	"flag"
	"fmt"
	"os"
)

// options are the command-line knobs of one run.
type options struct {
	quick   bool
	out     string
	install bool
}

func main() {
	reexec()
	var o options
	flag.BoolVar(&o.quick, "quick", false, "fewer runs and no 50-service peer stack (about 2 minutes)")
	flag.StringVar(&o.out, "o", "bench/RESULTS.md", "where to write the results (empty: do not write)")
	flag.BoolVar(&o.install, "install", true, "apt-get install missing peers")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
