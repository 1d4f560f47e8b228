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
	if p, err := resolvePool(UserNSConfig{Range: "3000000000:196608"}); err != nil || *p != (usernsPool{3000000000, 3000000000, 3}) {
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
