package daemon

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/runtime"
)

// Commit makes a new image of a service container's image plus what the
// container changed in its root filesystem (its overlay upper layer). A
// running container is frozen meanwhile, as docker commit does, so the
// layer is one consistent moment.
func (d *Daemon) Commit(ctx context.Context, project string, req api.CommitRequest) (api.CommitResult, error) {
	storage, rt, err := d.engines()
	if err != nil {
		return api.CommitResult{}, err
	}
	recs, err := d.records(project)
	if err != nil {
		return api.CommitResult{}, err
	}
	var r *record
	var known []string
	for _, c := range recs {
		if !slices.Contains(known, c.Service) {
			known = append(known, c.Service)
		}
		if c.Service == req.Service && !c.OneOff && (req.Index == 0 && (r == nil || c.Number < r.Number) || c.Number == req.Index) {
			r = c
		}
	}
	if r == nil {
		return api.CommitResult{}, fmt.Errorf("service %s has no container to commit in project %s (it has: %s): %w", ident.Quote(req.Service), project, strings.Join(known, ", "), errdefs.ErrNotFound)
	}
	if st, err := rt.State(r.ID); err == nil && st.Status == runtime.Running && !req.NoPause {
		if err := rt.Pause(r.ID); err != nil {
			return api.CommitResult{}, fmt.Errorf("commit %s: pause: %w", r.Name, err)
		}
		defer rt.Resume(r.ID)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(storage.Diff(ctx, d.rootfsPath(r.ID), pw)) }()
	createdBy := ""
	if r.Spec != nil && r.Spec.Process != nil {
		createdBy = strings.Join(r.Spec.Process.Args, " ")
	}
	var names []string
	if req.Ref != "" {
		names = []string{req.Ref}
	}
	base := r.ImageID
	if base == "" {
		base = r.Image
	}
	img, err := image.Commit(ctx, d.images, image.CommitOptions{Base: base, Layer: pr, Names: names,
		Author: req.Author, Comment: req.Comment, CreatedBy: createdBy})
	pr.CloseWithError(err)
	if err != nil {
		return api.CommitResult{}, fmt.Errorf("commit %s: %w", r.Name, err)
	}
	return api.CommitResult{ID: img.ID.String()}, nil
}
