package runtime

import (
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/stack-dev/stack/runtime/seccomp"
)

// TestProgramCache: one profile is compiled once; another profile, or a
// change to it, gets its own program; a bad one is an error every time.
func TestProgramCache(t *testing.T) {
	s := DefaultSpec("/bin/true")
	profile, err := seccomp.Default(s)
	if err != nil {
		t.Fatal(err)
	}
	c := programCache{progs: map[[32]byte]*seccomp.Program{}}
	a, err := c.compile(profile)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := seccomp.Default(s)
	b, err := c.compile(again)
	if err != nil || b != a {
		t.Errorf("the same profile compiled again: %p, %v; want the cached %p", b, err, a)
	}
	other := *profile
	other.DefaultAction = specs.ActKill
	o, err := c.compile(&other)
	if err != nil || o == a || string(o.Filter) == string(a.Filter) {
		t.Errorf("another default action got the cached program (%v)", err)
	}
	bad := specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NONSENSE"}
	for i := 0; i < 2; i++ {
		if _, err := c.compile(&bad); err == nil {
			t.Errorf("compile %d of a bad profile succeeded", i)
		}
	}
}
