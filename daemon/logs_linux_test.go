package daemon

import (
	"strings"
	"testing"

	"github.com/stack-dev/stack/runtime"
)

// TestLogConfig: a container's log rotates as its service's logging
// options say, else as the daemon's configuration does, else by the
// built-in default; each option the service sets overrides only itself.
func TestLogConfig(t *testing.T) {
	r := &record{ID: "0123abcd"}
	tests := []struct {
		name    string
		cfg     Config
		opts    map[string]string
		want    runtime.LogConfig
		wantErr string
	}{
		{"defaults", Config{}, nil, runtime.LogConfig{MaxSize: DefaultLogMaxSize, MaxFiles: DefaultLogMaxFiles}, ""},
		{"the daemon's", Config{LogMaxSize: 1 << 20, LogMaxFiles: 5}, nil, runtime.LogConfig{MaxSize: 1 << 20, MaxFiles: 5}, ""},
		{"the service's", Config{LogMaxSize: 1 << 20, LogMaxFiles: 5}, map[string]string{"max-size": "8k", "max-file": "3"}, runtime.LogConfig{MaxSize: 8 << 10, MaxFiles: 3}, ""},
		{"the service's size", Config{LogMaxSize: 1 << 20, LogMaxFiles: 5}, map[string]string{"max-size": "10m"}, runtime.LogConfig{MaxSize: 10 << 20, MaxFiles: 5}, ""},
		{"the service's count", Config{}, map[string]string{"max-file": "1"}, runtime.LogConfig{MaxSize: DefaultLogMaxSize, MaxFiles: 1}, ""},
		{"bad size", Config{}, map[string]string{"max-size": "8 parsecs"}, runtime.LogConfig{}, `max-size "8 parsecs"`},
		{"zero count", Config{}, map[string]string{"max-file": "0"}, runtime.LogConfig{}, `max-file "0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.StateRoot = "/state"
			d := &Daemon{cfg: tt.cfg}
			got, err := d.logConfig(r, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Path = "/state/logs/0123abcd.log"
			if got != tt.want {
				t.Errorf("logConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
}

