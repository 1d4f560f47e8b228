package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
)

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "daemon.json")
	if fc, err := LoadConfigFile(path, false); err != nil || fc.InsecureRegistries != nil {
		t.Errorf("missing optional file: %+v, %v", fc, err)
	}
	if _, err := LoadConfigFile(path, true); err == nil {
		t.Error("missing required file: want an error")
	}
	os.WriteFile(path, []byte(`{"insecure-registries": ["10.0.0.5:5000", "192.168.0.0/16"]}`), 0o644)
	fc, err := LoadConfigFile(path, true)
	if err != nil || !slices.Equal(fc.InsecureRegistries, []string{"10.0.0.5:5000", "192.168.0.0/16"}) {
		t.Errorf("LoadConfigFile = %+v, %v", fc, err)
	}
	os.WriteFile(path, []byte(`{"insecure-registry": ["x"]}`), 0o644)
	if _, err := LoadConfigFile(path, true); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "insecure-registry") {
		t.Errorf("unknown key: %v", err)
	}
}
