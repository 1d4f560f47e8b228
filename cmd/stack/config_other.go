//go:build !linux

package main

import (
	"context"
	"fmt"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

func (g *globalOptions) resolveDigests(ctx context.Context, p *spec.Project) error {
	return fmt.Errorf("config --resolve-image-digests needs the engine: %w", errdefs.ErrNotImplemented)
}
