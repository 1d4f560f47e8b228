package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestHasContainers: hasContainers finds a container directory behind
// more entries than one batch of the directory holds, and none among
// entries that are not containers (the shims' directory, removals under
// way, files).
func TestHasContainers(t *testing.T) {
	root := t.TempDir()
	m := &Manager{root: root}
	for i := range 100 {
		if err := os.Mkdir(filepath.Join(root, fmt.Sprintf(".removed-c%d", i)), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, ".shims"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "notadir"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if m.hasContainers() {
		t.Fatal("found a container where there is none")
	}
	if err := os.Mkdir(filepath.Join(root, "web"), 0o700); err != nil {
		t.Fatal(err)
	}
	if !m.hasContainers() {
		t.Fatal("missed the container")
	}
	if !(&Manager{root: filepath.Join(root, "missing")}).hasContainers() {
		t.Fatal("an unreadable root must count as holding containers: the parent is kept")
	}
}
