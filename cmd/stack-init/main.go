// Command stack-init is each container's first process until it execs the
// container's own, and the first step of every process exec'd into a
// container: it prepares the namespaces, mounts, credentials and filter,
// then execs. The shim starts it; it is not meant to be run by hand.
//
// It is a binary of its own, next to stack-shim, because a Go program
// starts in proportion to what it links: built with -tags stackinit (as
// make build does), package runtime leaves out its host side (the Manager,
// the shim, cgroups and what they link), so stack-init is under half of
// stack-shim's size, and an init's clone, exec and Go start-up take two
// thirds of the time they take from stack-shim (bench case 1's phases),
// once per container and per exec. Without it beside stack, stack-shim
// plays this role too.
package main

import (
	"fmt"
	"os"

	"github.com/stack-dev/stack/runtime"
)

func main() {
	if runtime.IsInit() {
		runtime.Init() // never returns
	}
	fmt.Fprintln(os.Stderr, "stack-init: started by a stack shim, not by hand")
	os.Exit(2)
}
