package daemon

import (
	"slices"
	"testing"

	"github.com/stack-dev/stack/api"
)

// TestInsecureRegistriesReachPulls: the daemon's insecure registries are
// those of every pull and push.
func TestInsecureRegistriesReachPulls(t *testing.T) {
	want := []string{"10.0.0.0/8", "r.local:5000"}
	d, err := New(Config{StateRoot: t.TempDir(), InsecureRegistries: want})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := d.registryOptions("r.local:5000/app", func(api.ImageProgress) {}).Insecure; !slices.Equal(got, want) {
		t.Errorf("registry options' Insecure = %q, want %q", got, want)
	}
}
