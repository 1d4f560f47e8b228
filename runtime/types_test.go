package runtime

import (
	"strings"
	"testing"
)

func TestValidateID(t *testing.T) {
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{"web-1", true}, {"a", true}, {"A.b_c-9", true}, {strings.Repeat("x", 128), true},
		{"", false}, {"-web", false}, {".hidden", false}, {"../x", false}, {"a/b", false},
		{"a b", false}, {strings.Repeat("x", 129), false}, {"é", false},
	} {
		if err := validateID(tt.id); (err == nil) != tt.ok {
			t.Errorf("validateID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}
