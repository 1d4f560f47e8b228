package api

import (
	"errors"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
)

func TestStreamError(t *testing.T) {
	tests := []struct {
		name, line string
		class      error // nil: not an error line
	}{
		{"error line", `{"error":{"class":"not_found","message":"no such service"}}`, errdefs.ErrNotFound},
		{"unknown class", `{"error":{"class":"internal","message":"disk full"}}`, nil},
		{"an event", `{"time":"2026-01-02T03:04:05Z","project":"p","action":"start"}`, nil},
		{"an older daemon's error string", `{"action":"error","error":"boom","message":"internal"}`, nil},
		{"an error without a message", `{"error":{"class":"not_found"}}`, nil},
		{"not JSON", `{"error":`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := streamError([]byte(tt.line))
			switch {
			case tt.name == "unknown class":
				if err == nil || err.Error() != "disk full" {
					t.Errorf("streamError = %v, want the message", err)
				}
			case tt.class == nil && err != nil:
				t.Errorf("streamError = %v, want nil", err)
			case tt.class != nil && !errors.Is(err, tt.class):
				t.Errorf("streamError = %v, want class %v", err, tt.class)
			}
		})
	}
}
