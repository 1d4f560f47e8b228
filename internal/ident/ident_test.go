package ident

import (
	"errors"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
)

func TestName(t *testing.T) {
	good := []string{"a", "web-1", "myproj_db_1", "A.b-c_d", "0", strings.Repeat("x", MaxLen)}
	bad := []string{"", ".", "..", "-a", "_a", ".a", "a/b", "../../victim", "x/../../cnvictim", "*", "a*", "a?", "[a]", "a b", "a\x00", "é", strings.Repeat("x", MaxLen+1)}
	for _, s := range good {
		if err := Name("volume", s); err != nil {
			t.Errorf("Name(%q) = %v", s, err)
		}
	}
	for _, s := range bad {
		if err := Name("volume", s); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Name(%q) = %v, want invalid argument", s, err)
		}
	}
}

func TestProject(t *testing.T) {
	for _, s := range []string{"a", "myproj", "my-proj_2", "0x"} {
		if err := Project(s); err != nil {
			t.Errorf("Project(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "My", "-a", "_a", "a.b", "../x", "..%2F..%2Fx", "*", "a/b"} {
		if err := Project(s); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Project(%q) = %v, want invalid argument", s, err)
		}
	}
}

func TestService(t *testing.T) {
	for _, s := range []string{"web", "php-fpm", "a.b", "_x", "-x", "Web_1"} {
		if err := Service(s); err != nil {
			t.Errorf("Service(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", ".", "..", "a/b", "a b", "*"} {
		if err := Service(s); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("Service(%q) = %v, want invalid argument", s, err)
		}
	}
}

func TestQuoteBounds(t *testing.T) {
	long := strings.Repeat("A", 500<<10)
	err := Name("volume", long)
	if len(err.Error()) > 300 || !strings.Contains(err.Error(), "(512000 bytes)") {
		t.Errorf("error quotes %d bytes: %.200s", len(err.Error()), err)
	}
	if got := Quote("ab"); got != `"ab"` {
		t.Errorf("Quote(ab) = %s", got)
	}
}

// FuzzName checks that whatever passes is a safe path component.
func FuzzName(f *testing.F) {
	for _, s := range []string{"web-1", "../x", "a/b", ".", "x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, check := range []func(string) error{func(s string) error { return Name("name", s) }, Project, Service} {
			err := check(s)
			if err != nil {
				if !errors.Is(err, errdefs.ErrInvalidArgument) || len(err.Error()) > 400 {
					t.Fatalf("error %v", err)
				}
				continue
			}
			if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00*?[]\\ ") || len(s) > MaxLen {
				t.Fatalf("%q passed", s)
			}
		}
	})
}
