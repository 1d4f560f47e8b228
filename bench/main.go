// Command bench measures stack and the tools a user would pick instead
// (crun, runc, podman, podman-compose, and dockerd behind stack's Docker
// API) side by side, in one run on one machine, and prints a markdown table of medians and ratios. A claim
// that stack is faster or lighter counts only when anyone can rerun it.
//
//	go run ./bench            # full run, about 10 minutes, writes bench/RESULTS.md
//	go run ./bench -quick     # about 2 minutes, fewer runs and no 50-service peer stack
//	go run ./bench -only 1    # one case (here: create to exit), printed only
//
// It needs root on Linux. Missing peers are installed from Debian's
// packages; a peer that still cannot run is skipped with the reason, and
// never makes the command fail. Everything it creates (containers of
// both engines, podman networks and images, bridges, nftables tables,
// mounts, cgroups, temporary directories) is removed at the end, also
// after Ctrl-C.
//
// Owns: the benchmark cases, the peer set-up and the results table.
// Must not import: daemon, planner, spec or api; it drives stack through
// its binary, as a user does, except for the runtime, which it calls
// directly, as runtime's own benchmarks do.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
)

// options are the command-line knobs of one run.
type options struct {
	quick   bool
	out     string
	install bool
	only    string // comma-separated case numbers; empty: all
	// baseline is a revision of stack measured as one more peer (see
	// baseline_linux.go); empty: none.
	baseline string
}

func main() {
	reexec()
	var o options
	flag.BoolVar(&o.quick, "quick", false, "fewer runs and no 50-service peer stack (about 2 minutes)")
	flag.StringVar(&o.out, "o", "bench/RESULTS.md", "where to write the results, relative to the repository unless absolute (empty: do not write)")
	flag.BoolVar(&o.install, "install", true, "apt-get install missing peers")
	flag.StringVar(&o.only, "only", "", "run only these cases, by number (\"1,6\"); the results are not written unless -o is given")
	flag.StringVar(&o.baseline, "baseline", "", "also measure stack at this git revision (up -d + down, the up curve, DNS), as a peer")
	flag.Parse()
	if o.only != "" && !isSet("o") {
		o.out = ""
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// isSet reports whether the command line gave the flag name.
func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// selects reports whether -only lets the case named name run: its name
// starts with its numbers ("4+5 DNS and TCP").
func (o options) selects(name string) bool {
	if o.only == "" {
		return true
	}
	nums, _, _ := strings.Cut(name, " ")
	for _, n := range strings.Split(nums, "+") {
		if slices.Contains(strings.Split(o.only, ","), n) {
			return true
		}
	}
	return false
}
