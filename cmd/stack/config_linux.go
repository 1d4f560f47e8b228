package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// resolveDigests pins each service's image to the digest its registry
// gave it (config --resolve-image-digests): name@sha256:..., from the
// image's RepoDigests.
func (g *globalOptions) resolveDigests(ctx context.Context, p *spec.Project) error {
	c, err := g.client(ctx)
	if err != nil {
		return err
	}
	for _, name := range p.ServiceNames() {
		svc := p.Services[name]
		if svc.Image == "" || strings.Contains(svc.Image, "@") {
			continue
		}
		var img struct{ RepoDigests []string }
		var raw json.RawMessage
		if err := c.Do(ctx, "GET", "/images/inspect/"+api.EscapeRef(svc.Image), nil, &raw); err != nil {
			return fmt.Errorf("resolve the digest of %s: %w", svc.Image, err)
		}
		json.Unmarshal(raw, &img)
		if len(img.RepoDigests) == 0 {
			return fmt.Errorf("resolve the digest of %s: the engine knows no registry digest for it (it was not pulled from a registry): %w", svc.Image, errdefs.ErrFailedPrecondition)
		}
		repo, _ := splitTag(svc.Image)
		digest := img.RepoDigests[0]
		if _, d, ok := strings.Cut(digest, "@"); ok {
			digest = d
		}
		svc.Image = repo + "@" + digest
	}
	return nil
}
