package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/stack-dev/stack/api"
)

// Prune removes what nothing uses, as docker system prune does: networks
// no container is on, dangling images (all unused ones with All), and
// anonymous volumes no container mounts (named ones too with All). It
// goes on after a failure and reports every error with what it removed.
func (d *Daemon) Prune(ctx context.Context, req api.PruneRequest) (api.PruneReport, error) {
	rep := api.PruneReport{Images: []string{}, Networks: []string{}, Volumes: []string{}}
	var errs []error
	recs, err := d.records("")
	if err != nil {
		return rep, fmt.Errorf("prune: %w", err)
	}
	if req.Networks {
		errs = append(errs, d.pruneNetworks(ctx, recs, &rep))
	}
	if req.Volumes {
		errs = append(errs, d.pruneVolumes(ctx, req.All, &rep))
	}
	if req.Images {
		errs = append(errs, d.pruneImages(ctx, req.All, &rep))
	}
	return rep, errors.Join(errs...)
}
