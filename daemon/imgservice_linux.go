package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/archive"
	"github.com/stack-dev/stack/internal/errdefs"
)

// The image service: images described, tagged, pruned and built from a
// tar context, as the Docker API asks.

// ImageInfo describes an image, as docker image inspect and ls show it.
type ImageInfo struct {
	ID, Manifest          string
	RepoTags, RepoDigests []string
	Created               time.Time
	Size                  int64
	Author                string
	Architecture, Os      string
	Variant               string
	// Config is the image's runtime configuration in docker's image
	// config JSON (User, Env, Cmd, Entrypoint, Labels, ...).
	Config json.RawMessage
	// Layers are the diff IDs of its layers, lowest first.
	Layers []string
	Labels map[string]string
	// Containers counts the containers made from it.
	Containers int
}

// ImageList describes every image, newest first.
func (d *Daemon) ImageList(ctx context.Context) ([]ImageInfo, error) {
	imgs, err := d.images.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]ImageInfo, 0, len(imgs))
	for _, img := range imgs {
		info, err := d.ImageInfo(ctx, img.ID.String())
		if err != nil {
			if errors.Is(err, errdefs.ErrNotFound) {
				continue // removed meanwhile
			}
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// ImageInfo describes the image ref.
func (d *Daemon) ImageInfo(ctx context.Context, ref string) (ImageInfo, error) {
	in, err := d.images.Inspect(ctx, ref)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("image %s: %w", ref, err)
	}
	cfg, err := json.Marshal(in.Config)
	if err != nil {
		return ImageInfo{}, err
	}
	info := ImageInfo{
		ID: in.ID.String(), Manifest: in.ManifestDigest.String(), RepoTags: in.RepoTags, RepoDigests: in.RepoDigests,
		Created: in.Created, Size: in.Size, Author: in.Author, Architecture: in.Architecture, Os: in.Os,
		Variant: in.Variant, Config: cfg, Labels: in.Config.Labels,
	}
	for _, l := range in.RootFS.DiffIDs {
		info.Layers = append(info.Layers, l.String())
	}
	for _, r := range d.store.list("") {
		if r.ImageID == info.ID {
			info.Containers++
		}
	}
	return info, nil
}

// TagImage gives the image ref the name target as well.
func (d *Daemon) TagImage(ctx context.Context, ref, target string) error {
	img, err := d.images.Get(ctx, ref)
	if err != nil {
		return fmt.Errorf("tag %s: %w", ref, err)
	}
	if err := d.images.Tag(ctx, ref, target); err != nil {
		return fmt.Errorf("tag %s as %s: %w", ref, target, err)
	}
	d.events.publish(api.Event{Type: api.TypeImage, ID: img.ID.String(), Image: target, Action: api.ActionImageTag})
	return nil
}

// PruneImages removes the images no container uses that are dangling
// (every unused one with all) and match (nil: all). It returns what it
// removed and the bytes that gave back.
func (d *Daemon) PruneImages(ctx context.Context, all bool, match func(ImageInfo) bool) ([]api.ImageRemoveReport, int64, error) {
	infos, err := d.ImageList(ctx)
	if err != nil {
		return nil, 0, err
	}
	var out []api.ImageRemoveReport
	var reclaimed int64
	var errs []error
	for _, img := range infos {
		if img.Containers > 0 || len(img.RepoTags) > 0 && !all || match != nil && !match(img) {
			continue
		}
		rep, err := d.RemoveImage(ctx, img.ID, true)
		if err != nil {
			if !errors.Is(err, errdefs.ErrFailedPrecondition) && !errors.Is(err, errdefs.ErrNotFound) {
				errs = append(errs, err)
			}
			continue
		}
		out = append(out, rep)
		reclaimed += img.Size
	}
	return out, reclaimed, errors.Join(errs...)
}

// BuildContext builds an image from a build context sent as a tar stream
// (docker build's): it is unpacked into a directory of the state root
// for the build and removed with it. req.Context is ignored.
func (d *Daemon) BuildContext(ctx context.Context, tarball io.Reader, req api.BuildRequest, emit func(api.BuildEvent)) (api.BuildEvent, error) {
	root := filepath.Join(d.cfg.StateRoot, buildDir, "contexts")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return api.BuildEvent{}, fmt.Errorf("build: %w", err)
	}
	dir, err := os.MkdirTemp(root, "ctx-")
	if err != nil {
		return api.BuildEvent{}, fmt.Errorf("build: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := archive.Untar(tarball, dir, archive.Options{}); err != nil {
		return api.BuildEvent{}, fmt.Errorf("build: unpack the context: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	req.Context = dir
	if req.Dockerfile != "" && filepath.IsAbs(req.Dockerfile) {
		return api.BuildEvent{}, fmt.Errorf("build: dockerfile %s: want a path in the context: %w", req.Dockerfile, errdefs.ErrInvalidArgument)
	}
	if strings.HasPrefix(filepath.Clean(req.Dockerfile), "..") {
		return api.BuildEvent{}, fmt.Errorf("build: dockerfile %s leaves the context: %w", req.Dockerfile, errdefs.ErrInvalidArgument)
	}
	return d.Build(ctx, req, emit)
}

func (d *Daemon) pruneImages(ctx context.Context, all bool, rep *api.PruneReport) error {
	imgs, err := d.images.List(ctx)
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	var errs []error
	for _, img := range imgs {
		if len(img.Names) > 0 && !all || d.imageInUse(img.ID) {
			continue
		}
		if _, err := d.RemoveImage(ctx, img.ID.String(), true); err != nil {
			if !errors.Is(err, errdefs.ErrFailedPrecondition) && !errors.Is(err, errdefs.ErrNotFound) {
				errs = append(errs, err)
			}
			continue
		}
		name := img.ID.String()
		if tags := img.RepoTags(); len(tags) > 0 {
			name = strings.Join(tags, ", ")
		}
		rep.Images = append(rep.Images, name)
		rep.SpaceReclaimed += img.Size
	}
	return errors.Join(errs...)
}
