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

// TestConfigFileLogOpts: daemon.json's log-opts, as dockerd's, set the
// default rotation of containers' logs; a bad value or an option stack
// does not apply is an error that names it; one of the two alone takes
// the default of the other.
func TestConfigFileLogOpts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "daemon.json")
	tests := []struct {
		name      string
		file      string
		wantSize  int64
		wantFiles int
		wantErr   string
	}{
		{"none", `{}`, 0, 0, ""},
		{"both", `{"log-opts": {"max-size": "10m", "max-file": "3"}}`, 10 << 20, 3, ""},
		{"kilobytes", `{"log-opts": {"max-size": "8k", "max-file": "5"}}`, 8 << 10, 5, ""},
		{"size alone", `{"log-opts": {"max-size": "1g"}}`, 1 << 30, DefaultLogMaxFiles, ""},
		{"count alone", `{"log-opts": {"max-file": "7"}}`, DefaultLogMaxSize, 7, ""},
		{"with registries", `{"insecure-registries": ["r:5000"], "log-opts": {"max-size": "512k"}}`, 512 << 10, DefaultLogMaxFiles, ""},
		{"bad size", `{"log-opts": {"max-size": "ten megs"}}`, 0, 0, `log-opts max-size "ten megs"`},
		{"zero size", `{"log-opts": {"max-size": "0"}}`, 0, 0, `log-opts max-size "0"`},
		{"bad count", `{"log-opts": {"max-file": "0"}}`, 0, 0, `log-opts max-file "0"`},
		{"other option", `{"log-opts": {"max-size": "1m", "compress": "true"}}`, 0, 0, `log-opts "compress"`},
		{"not strings", `{"log-opts": {"max-file": 3}}`, 0, 0, "log-opts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			var cfg Config
			fc, err := LoadConfigFile(path, true)
			if err == nil {
				err = fc.Apply(&cfg)
			}
			if tt.wantErr != "" {
				if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want invalid argument naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.LogMaxSize != tt.wantSize || cfg.LogMaxFiles != tt.wantFiles {
				t.Errorf("LogMaxSize, LogMaxFiles = %d, %d, want %d, %d", cfg.LogMaxSize, cfg.LogMaxFiles, tt.wantSize, tt.wantFiles)
			}
		})
	}
}

// TestConfigFileInsecureRegistries: the file's insecure registries come
// first, then the ones the flags name; neither replaces the other.
func TestConfigFileInsecureRegistries(t *testing.T) {
	cfg := Config{InsecureRegistries: []string{"flag:5000"}}
	if err := (FileConfig{InsecureRegistries: []string{"file:5000", "10.0.0.0/8"}}).Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if want := []string{"file:5000", "10.0.0.0/8", "flag:5000"}; !slices.Equal(cfg.InsecureRegistries, want) {
		t.Errorf("InsecureRegistries = %q, want %q", cfg.InsecureRegistries, want)
	}
}
