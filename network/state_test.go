package network

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestStateMovesVersion1Containers: a network.json of version 1 kept the
// containers; loading it moves each to a file of its own and writes
// network.json without them.
func TestStateMovesVersion1Containers(t *testing.T) {
	root := t.TempDir()
	v1 := `{"version":1,"networks":{"web":{"config":{"name":"web"},"bridge":"stk-1"}},
		"containers":{"c1":{"netns":"/run/netns/c1","own_netns":true,"networks":null,"endpoints":null,"ports":null}}}`
	if err := os.WriteFile(filepath.Join(root, stateFile), []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := loadState(root)
	if err != nil {
		t.Fatal(err)
	}
	if st.Networks["web"] == nil || st.Containers["c1"] == nil || st.Containers["c1"].NetNSPath != "/run/netns/c1" {
		t.Fatalf("loaded %+v", st)
	}
	var disk map[string]any
	b, _ := os.ReadFile(filepath.Join(root, stateFile))
	if err := json.Unmarshal(b, &disk); err != nil || disk["version"] != float64(stateVersion) || disk["containers"] != nil {
		t.Errorf("network.json after the move: %s (%v)", b, err)
	}
	again, err := loadState(root)
	if err != nil || again.Containers["c1"] == nil || again.Containers["c1"].NetNSPath != "/run/netns/c1" {
		t.Errorf("loaded again: %+v, %v", again, err)
	}
	// A temporary file of a cut write is removed, not read.
	tmp := filepath.Join(root, containersDir, ".c2.json.tmp123")
	os.WriteFile(tmp, []byte("{"), 0o600)
	if _, err := loadState(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}
