package image_test

import (
	"errors"
	"testing"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
)

func TestParseReference(t *testing.T) {
	tests := []struct {
		name, in, full, familiar string
	}{
		{"official", "busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"official tag", "busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
		{"user repo", "me/app", "docker.io/me/app:latest", "me/app:latest"},
		{"explicit docker.io", "docker.io/library/nginx:1.25", "docker.io/library/nginx:1.25", "nginx:1.25"},
		{"legacy index", "index.docker.io/nginx", "docker.io/library/nginx:latest", "nginx:latest"},
		{"registry with port", "localhost:5000/app:v1", "localhost:5000/app:v1", "localhost:5000/app:v1"},
		{"localhost", "localhost/app", "localhost/app:latest", "localhost/app:latest"},
		{"domain", "ghcr.io/org/team/app:2", "ghcr.io/org/team/app:2", "ghcr.io/org/team/app:2"},
		{"digest", "busybox@sha256:" + hex64, "docker.io/library/busybox@sha256:" + hex64, "busybox@sha256:" + hex64},
		{"tag and digest", "busybox:1@sha256:" + hex64, "docker.io/library/busybox:1@sha256:" + hex64, "busybox:1@sha256:" + hex64},
		{"separators", "a_b__c-d/f.g", "docker.io/a_b__c-d/f.g:latest", "a_b__c-d/f.g:latest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := image.ParseReference(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tt.full || r.Familiar() != tt.familiar {
				t.Fatalf("got %s / %s, want %s / %s", r, r.Familiar(), tt.full, tt.familiar)
			}
			// Normalisation is idempotent.
			again, err := image.NormalizeReference(r.String())
			if err != nil || again != tt.full {
				t.Fatalf("renormalised to %q, %v", again, err)
			}
		})
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseReferenceInvalid(t *testing.T) {
	for _, in := range []string{"", "Busybox", "busybox:", "a//b", "-a", "busybox@sha256:short", "busybox:-tag", ":tag", "a/b:c:d", "..", ".", "a/../b", "../b", "a/..", "a/./b", "../../../etc/passwd", "*", "a/*"} {
		t.Run(in, func(t *testing.T) {
			_, err := image.ParseReference(in)
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("ParseReference(%q) = %v, want invalid argument", in, err)
			}
		})
	}
}
