package main

import (
	"slices"
	"testing"
)

func TestRewriteShorthands(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{[]string{"logs", "-f", "web"}, []string{"logs", "--follow", "web"}},
		{[]string{"-f", "a.yaml", "logs", "-f"}, []string{"-f", "a.yaml", "logs", "--follow"}},
		{[]string{"image", "rm", "-f", "x"}, []string{"image", "rm", "--force", "x"}},
		{[]string{"system", "prune", "-f", "-a"}, []string{"system", "prune", "--force", "-a"}},
		{[]string{"-f", "a.yaml", "up", "-d"}, []string{"-f", "a.yaml", "up", "-d"}},
		{[]string{"exec", "web", "--", "logs", "-f"}, []string{"exec", "web", "--", "logs", "-f"}},
		{[]string{"exec", "web", "rm", "-f", "/x"}, []string{"exec", "web", "rm", "-f", "/x"}},
		{[]string{"-f", "a.yaml", "run", "app", "tail", "-f", "/log"}, []string{"-f", "a.yaml", "run", "app", "tail", "-f", "/log"}},
	} {
		if got := rewriteShorthands(c.in); !slices.Equal(got, c.want) {
			t.Errorf("rewriteShorthands(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
