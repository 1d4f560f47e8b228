package daemon

import (
	"strings"
	"testing"
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
