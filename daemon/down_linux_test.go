package daemon

import (
	"strings"
	"testing"

	"github.com/stack-dev/stack/api"
)

func TestStopWaves(t *testing.T) {
	recs := []*record{
		{Name: "db-1", Service: "db"},
		{Name: "web-1", Service: "web", DependsOn: []string{"php"}},
		{Name: "php-1", Service: "php", DependsOn: []string{"db", "cache"}},
		{Name: "php-2", Service: "php", DependsOn: []string{"db", "cache"}},
		{Name: "run-1", Service: "db", OneOff: true, DependsOn: []string{"x"}},
		{Name: "cache-1", Service: "cache"},
	}
	var got []string
	for _, w := range stopWaves(recs) {
		var names []string
		for _, r := range w {
			names = append(names, r.Name)
		}
		got = append(got, strings.Join(names, ","))
	}
	if want := "run-1,web-1 | php-1,php-2 | cache-1,db-1"; strings.Join(got, " | ") != want {
		t.Errorf("stop waves: %q, want %q", strings.Join(got, " | "), want)
	}
}

// TestDownSelection: down SERVICE... takes the service and what depends
// on it, directly or not, and leaves the rest; one-offs and orphans only
// with --remove-orphans, as compose's down.
func TestDownSelection(t *testing.T) {
	recs := []*record{
		{Name: "db-1", Service: "db"},
		{Name: "php-1", Service: "php", DependsOn: []string{"db"}},
		{Name: "web-1", Service: "web", DependsOn: []string{"php"}},
		{Name: "cache-1", Service: "cache"},
		{Name: "old-1", Service: "old"},
		{Name: "php-run-1", Service: "php", OneOff: true},
		{Name: "cache-run-1", Service: "cache", OneOff: true},
		{Name: "cache-run-2", Service: "cache", OneOff: true},
	}
	exited := func(r *record) bool { return r.Name == "cache-run-2" }
	names := func(rs []*record) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		name       string
		req        api.DownRequest
		down, stay string
	}{
		{"a leaf", api.DownRequest{Services: []string{"web"}},
			"web-1", "db-1,php-1,cache-1,old-1,php-run-1,cache-run-1,cache-run-2"},
		{"dependents too", api.DownRequest{Services: []string{"db"}},
			"db-1,php-1,web-1", "cache-1,old-1,php-run-1,cache-run-1,cache-run-2"},
		{"unknown service", api.DownRequest{Services: []string{"nope"}},
			"", "db-1,php-1,web-1,cache-1,old-1,php-run-1,cache-run-1,cache-run-2"},
		{"remove orphans", api.DownRequest{Services: []string{"php"}, RemoveOrphans: true, StackServices: []string{"cache", "db", "php", "web"}},
			"php-1,web-1,old-1,php-run-1,cache-run-2", "db-1,cache-1,cache-run-1"},
		{"remove orphans without a stack file", api.DownRequest{Services: []string{"cache"}, RemoveOrphans: true},
			"cache-1,cache-run-1,cache-run-2", "db-1,php-1,web-1,old-1,php-run-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			down, stay := downSelection(recs, tc.req, exited)
			if names(down) != tc.down || names(stay) != tc.stay {
				t.Errorf("down %q, stay %q; want down %q, stay %q", names(down), names(stay), tc.down, tc.stay)
			}
		})
	}
}
