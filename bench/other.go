//go:build !linux

package main

import (
	"fmt"
	"os"
)

func reexec() {}

// run reports that there is nothing to measure: containers, and therefore
// every case, need Linux.
func run(options) error {
	fmt.Fprintln(os.Stderr, "bench: skipped, containers need Linux")
	return nil
}
