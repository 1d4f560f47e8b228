package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/stack-dev/stack/internal/errdefs"
)

// DefaultConfigFile is where the daemon reads its settings, as dockerd
// reads /etc/docker/daemon.json.
const DefaultConfigFile = "/etc/stack/daemon.json"

// FileConfig is the content of the daemon's configuration file. Its keys
// are dockerd's, so a daemon.json line can be copied over.
type FileConfig struct {
	InsecureRegistries []string `json:"insecure-registries,omitempty"`
}

// LoadConfigFile reads the daemon's configuration file. A missing file is
// an empty configuration unless required; an unknown key is an error that
// names it, so a typo is not silently ignored.
func LoadConfigFile(path string, required bool) (FileConfig, error) {
	var fc FileConfig
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !required {
		return fc, nil
	}
	if err != nil {
		return fc, fmt.Errorf("daemon configuration: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return fc, fmt.Errorf("daemon configuration %s: %v (stack knows insecure-registries): %w", path, err, errdefs.ErrInvalidArgument)
	}
	return fc, nil
}
