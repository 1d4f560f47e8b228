package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/spec"
)

// DefaultConfigFile is where the daemon reads its settings, as dockerd
// reads /etc/docker/daemon.json.
const DefaultConfigFile = "/etc/stack/daemon.json"

// FileConfig is the content of the daemon's configuration file. Its keys
// are dockerd's, so a daemon.json line can be copied over.
type FileConfig struct {
	InsecureRegistries []string `json:"insecure-registries,omitempty"`
	// LogOpts are the default rotation of containers' logs: max-size
	// ("10m") and max-file ("3"), as dockerd's log-opts.
	LogOpts map[string]string `json:"log-opts,omitempty"`
	// UsernsRemap is dockerd's key, whether containers get user
	// namespaces of their own: "default" (from the "stack" entries of
	// /etc/subuid and /etc/subgid, added when missing, as dockerd's
	// "default" adds dockremap's), a user name (that user's entries), or
	// "host" (none: containers share the host's). Optional:
	// DefaultUserNSMode.
	UsernsRemap string `json:"userns-remap,omitempty"`
	// UsernsRange is the pool of containers' ranges as START:COUNT, for
	// uids and gids alike, instead of /etc/subuid and /etc/subgid.
	// Optional.
	UsernsRange string `json:"userns-range,omitempty"`
}

// ApplyUserNS sets cfg's user namespace settings from a userns-remap and
// a userns-range value, as the file or the daemon's flags give them; an
// empty value changes nothing.
func ApplyUserNS(cfg *Config, remap, idRange string) error {
	switch remap {
	case "":
	case "host":
		cfg.UserNS.Mode = UserNSHost
	case "default":
		cfg.UserNS.Mode, cfg.UserNS.User = UserNSPrivate, ""
	default:
		if ident.Name("user", remap) != nil || strings.ContainsAny(remap, ":/") {
			return fmt.Errorf("daemon configuration: userns-remap %q: want default, host or a user name with entries in /etc/subuid and /etc/subgid: %w", remap, errdefs.ErrInvalidArgument)
		}
		cfg.UserNS.Mode, cfg.UserNS.User = UserNSPrivate, remap
	}
	if idRange != "" {
		if _, _, err := parseIDRange(idRange); err != nil {
			return fmt.Errorf("daemon configuration: %w", err)
		}
		cfg.UserNS.Range = idRange
	}
	return nil
}

// Apply puts the file's settings into cfg: its log-opts as cfg's log
// rotation, its insecure registries before cfg's own.
func (fc FileConfig) Apply(cfg *Config) error {
	cfg.InsecureRegistries = append(slices.Clone(fc.InsecureRegistries), cfg.InsecureRegistries...)
	if err := ApplyUserNS(cfg, fc.UsernsRemap, fc.UsernsRange); err != nil {
		return err
	}
	for k, v := range fc.LogOpts {
		switch k {
		case "max-size":
			size, err := spec.ParseByteSize(v)
			if err != nil || size <= 0 {
				return fmt.Errorf("daemon configuration: log-opts max-size %q: want a positive size such as 10m: %w", v, errdefs.ErrInvalidArgument)
			}
			cfg.LogMaxSize = int64(size)
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("daemon configuration: log-opts max-file %q: want a positive number: %w", v, errdefs.ErrInvalidArgument)
			}
			cfg.LogMaxFiles = n
		default:
			return fmt.Errorf("daemon configuration: log-opts %q: stack knows max-size and max-file: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	if cfg.LogMaxFiles > 0 && cfg.LogMaxSize == 0 {
		cfg.LogMaxSize = DefaultLogMaxSize
	}
	if cfg.LogMaxSize > 0 && cfg.LogMaxFiles == 0 {
		cfg.LogMaxFiles = DefaultLogMaxFiles
	}
	return nil
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
		return fc, fmt.Errorf("daemon configuration %s: %v (stack knows insecure-registries, log-opts, userns-remap and userns-range): %w", path, err, errdefs.ErrInvalidArgument)
	}
	return fc, nil
}
