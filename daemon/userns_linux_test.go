package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

func TestResolvePoolAddsEntry(t *testing.T) {
	dir := t.TempDir()
	uidFile, gidFile := filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
	os.WriteFile(uidFile, []byte("alice:100000:65536\nbob:165536:65536"), 0o644)
	os.WriteFile(gidFile, []byte("alice:100000:65536\n"), 0o644)
	p, err := resolvePool(UserNSConfig{SubUIDFile: uidFile, SubGIDFile: gidFile})
	if err != nil {
		t.Fatal(err)
	}
	if p.UID < 231072 || p.UID%usernsSize != 0 || p.Ranges != defaultPoolRanges {
		t.Errorf("pool %+v: want %d ranges after bob's entry, aligned", p, defaultPoolRanges)
	}
	b, _ := os.ReadFile(uidFile)
	if want := fmt.Sprintf("bob:165536:65536\nstack:%d:%d\n", p.UID, defaultPoolRanges*usernsSize); !strings.HasSuffix(string(b), want) {
		t.Errorf("subuid:\n%s\nwant it to end with\n%s", b, want)
	}
	// Found, not added, the second time.
	again, err := resolvePool(UserNSConfig{SubUIDFile: uidFile, SubGIDFile: gidFile})
	if err != nil || *again != *p {
		t.Errorf("second resolve: %+v %v, want %+v", again, err, p)
	}
	if b2, _ := os.ReadFile(uidFile); string(b2) != string(b) {
		t.Errorf("subuid changed again:\n%s", b2)
	}
}

func TestResolvePoolRefusals(t *testing.T) {
	dir := t.TempDir()
	uidFile, gidFile := filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
	os.WriteFile(uidFile, []byte("alice:1000000:65536\nstack:1000000:655360\n"), 0o644)
	os.WriteFile(gidFile, []byte("stack:2000000:655360\n"), 0o644)
	_, err := resolvePool(UserNSConfig{SubUIDFile: uidFile, SubGIDFile: gidFile})
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "alice") {
		t.Errorf("overlapping entries: %v, want a failed precondition naming alice", err)
	}
	_, err = resolvePool(UserNSConfig{User: "carol", SubUIDFile: uidFile, SubGIDFile: gidFile})
	if !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("a user without entries: %v, want a failed precondition", err)
	}
	// An entry over the host's users (root, nobody at 65534 at least).
	os.WriteFile(uidFile, []byte("stack:1000:655360\n"), 0o644)
	_, err = resolvePool(UserNSConfig{SubUIDFile: uidFile, SubGIDFile: gidFile})
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "highest user or group ID") {
		t.Errorf("an entry over the host's users: %v, want a failed precondition", err)
	}
	os.WriteFile(uidFile, []byte("alice:3000100000:65536\n"), 0o644)
	if _, err := resolvePool(UserNSConfig{Range: "3000000000:196608", SubUIDFile: uidFile, SubGIDFile: gidFile}); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "alice") {
		t.Errorf("a configured range over alice's entry: %v, want it refused naming alice", err)
	}
	if _, err := resolvePool(UserNSConfig{Range: "1000:65536", SubUIDFile: uidFile, SubGIDFile: gidFile}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("a configured range over the host's users: %v, want it refused", err)
	}
	if p, err := resolvePool(UserNSConfig{Range: "3000000000:196608", SubUIDFile: gidFile, SubGIDFile: gidFile}); err != nil || *p != (usernsPool{3000000000, 3000000000, 3}) {
		t.Errorf("configured range: %+v %v", p, err)
	}
}

func TestApplyUserNS(t *testing.T) {
	tests := []struct {
		remap, idRange string
		want           UserNSConfig
		ok             bool
	}{
		{"", "", UserNSConfig{}, true},
		{"host", "", UserNSConfig{Mode: UserNSHost}, true},
		{"default", "", UserNSConfig{Mode: UserNSPrivate}, true},
		{"dev", "", UserNSConfig{Mode: UserNSPrivate, User: "dev"}, true},
		{"", "1000000000:65536", UserNSConfig{Range: "1000000000:65536"}, true},
		{"dev:dev", "", UserNSConfig{}, false},
		{"", "12", UserNSConfig{}, false},
	}
	for _, tt := range tests {
		var cfg Config
		err := ApplyUserNS(&cfg, tt.remap, tt.idRange)
		if (err == nil) != tt.ok || err == nil && cfg.UserNS != tt.want {
			t.Errorf("ApplyUserNS(%q, %q) = %+v, %v", tt.remap, tt.idRange, cfg.UserNS, err)
		}
	}
}

// TestAllocateUserNS: ranges are disjoint, the lowest free one is taken,
// a removed record frees its range, and the allocation is on disk: a
// store loaded again (a daemon restarted after kill -9) sees it.
func TestAllocateUserNS(t *testing.T) {
	root := t.TempDir()
	s, err := loadRecords(root, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	pool := &usernsPool{UID: 1 << 30, GID: 1<<30 + 1<<20, Ranges: 3}
	rec := func(name string) *record {
		return &record{ID: name + "-id", Name: name, Project: "p", State: stateCreating}
	}
	a, b, c := rec("a"), rec("b"), rec("c")
	for _, r := range []*record{a, b, c} {
		if err := s.allocateUserNS(r, pool); err != nil {
			t.Fatal(err)
		}
	}
	if a.UserNS.UID == b.UserNS.UID || b.UserNS.UID == c.UserNS.UID || a.UserNS.UID == c.UserNS.UID {
		t.Fatalf("ranges shared: %+v %+v %+v", a.UserNS, b.UserNS, c.UserNS)
	}
	if a.UserNS.GID-pool.GID != a.UserNS.UID-pool.UID {
		t.Errorf("gid range %+v does not go with its uid range", a.UserNS)
	}
	if err := s.allocateUserNS(rec("d"), pool); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("a fourth range of three: %v, want unavailable", err)
	}
	if err := s.remove("p", "b"); err != nil {
		t.Fatal(err)
	}
	reloaded, err := loadRecords(root, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reloaded.list("p") {
		if want := map[string]uint32{"a": a.UserNS.UID, "c": c.UserNS.UID}[r.Name]; r.UserNS == nil || r.UserNS.UID != want {
			t.Errorf("reloaded %s: %+v, want uid %d", r.Name, r.UserNS, want)
		}
	}
	d := rec("d")
	if err := reloaded.allocateUserNS(d, pool); err != nil || d.UserNS.UID != b.UserNS.UID {
		t.Errorf("after b's removal: %+v %v, want b's range back (%d)", d.UserNS, err, b.UserNS.UID)
	}
}

// TestServiceUserNS: with the daemon's default on, a service gets a user
// namespace unless it opts out; privileged and shared network namespaces
// are refused with the fix, never quietly given the host's root.
func TestServiceUserNS(t *testing.T) {
	p := &spec.Project{Name: "p", Services: map[string]*spec.Service{
		"web":     {Name: "web"},
		"out":     {Name: "out", UsernsMode: "host"},
		"priv":    {Name: "priv", Privileged: true},
		"privok":  {Name: "privok", Privileged: true, UsernsMode: "host"},
		"hostnet": {Name: "hostnet", NetworkMode: "host"},
		"side":    {Name: "side", NetworkMode: "service:db"},
		"db":      {Name: "db"},
		"side2":   {Name: "side2", NetworkMode: "service:db2", UsernsMode: "host"},
		"db2":     {Name: "db2", UsernsMode: "host"},
	}}
	tests := []struct {
		service string
		want    bool
		errHas  string // empty: no error
	}{
		{"web", true, ""},
		{"out", false, ""},
		{"priv", false, `set userns_mode: host on service "priv"`},
		{"privok", false, ""},
		{"hostnet", false, "network_mode: host"},
		{"side", false, `set userns_mode: host on both "side" and "db"`},
		{"db", false, `set userns_mode: host on both "db" and "side"`},
		{"side2", false, ""},
		{"db2", false, ""},
	}
	d := &Daemon{cfg: Config{UserNS: UserNSConfig{Mode: UserNSPrivate}}}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			got, err := d.serviceUserNS(p, p.Services[tt.service])
			if tt.errHas == "" && err != nil || tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas) || !errors.Is(err, errdefs.ErrInvalidArgument)) {
				t.Fatalf("error %v, want one containing %q", err, tt.errHas)
			}
			if got != tt.want {
				t.Errorf("user namespace %v, want %v", got, tt.want)
			}
		})
	}
	if err := d.checkUserNS(p, []string{"web", "priv", "side"}); err == nil || !strings.Contains(err.Error(), `"priv"`) || !strings.Contains(err.Error(), `"side"`) {
		t.Errorf("checkUserNS: %v, want both refusals", err)
	}
	host := &Daemon{} // the default: opt-in
	if got, err := host.serviceUserNS(p, p.Services["priv"]); got || err != nil {
		t.Errorf("daemon default host: %v %v, want the host's namespace", got, err)
	}
}
