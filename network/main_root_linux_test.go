package network

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// TestMain runs the suite with a TMPDIR of its own and checks, after a root
// run, that it left nothing: no namespace bind mount under that TMPDIR, and
// in the real host's namespace no link of ours named after a test of this
// run and no nftables table of the names the tests use. (The tests work in
// fake hosts of their own; this catches one that strays. Other suites,
// such as the daemon's, may run alongside with links of their own, so only
// ours count.)
func TestMain(m *testing.M) {
	if IsResolver() {
		ResolverMain()
	}
	root := os.Getenv("STACK_TEST_ROOT") == "1"
	tmp, err := os.MkdirTemp("", "network-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("TMPDIR", tmp)
	var before []string
	if root {
		before = ourHostObjects(tmp)
	}
	code := m.Run()
	if root {
		var leaks []string
		for _, o := range ourHostObjects(tmp) {
			if !slices.Contains(before, o) {
				leaks = append(leaks, o)
			}
		}
		if len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "leaked after the suite:\n\t%s\n", strings.Join(leaks, "\n\t"))
			code = 1
		}
	}
	if err := os.RemoveAll(tmp); err != nil && code == 0 {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// testTables are the nftables tables the tests create (in namespaces of
// their own).
var testTables = []string{DefaultTable, "stacktest"}

// ourHostObjects lists links and nftables tables of this suite in the
// process's namespace, and nsfs mounts under tmp.
func ourHostObjects(tmp string) []string {
	var out []string
	links, _ := netlink.LinkList()
	for _, l := range links {
		a := l.Attrs()
		if (strings.HasPrefix(a.Alias, bridgeAliasPrefix) || strings.HasPrefix(a.Alias, vethAliasPrefix)) && strings.Contains(a.Alias, "-"+testTag) {
			out = append(out, "link "+a.Name+" ("+a.Alias+")")
		}
	}
	if c, err := nftables.New(); err == nil {
		tables, _ := c.ListTables()
		for _, t := range tables {
			if slices.Contains(testTables, t.Name) || strings.HasPrefix(t.Name, "stacktest") {
				out = append(out, "nftables table "+t.Name)
			}
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		f := strings.Fields(line)
		if len(f) > 8 && strings.Contains(line, " - nsfs ") && strings.HasPrefix(f[4], filepath.Clean(tmp)+"/") {
			out = append(out, "netns mount "+f[4])
		}
	}
	return out
}
