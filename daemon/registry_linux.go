package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/image/registry"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// bootstrapCacheDir, under the state root, keeps the root filesystem
// tarballs of `image bootstrap`, so that a second bootstrap only imports.
const bootstrapCacheDir = "cache/bootstrap"

// registryOptions are the options of every pull and push. Credentials come
// from the daemon's ~/.docker/config.json (root's, as the daemon runs as
// root), as docker's do.
func (d *Daemon) registryOptions(ref string, emit func(api.ImageProgress)) registry.Options {
	return registry.Options{Insecure: d.cfg.InsecureRegistries, Progress: func(p registry.Progress) {
		emit(api.ImageProgress{Ref: ref, Layer: p.Layer.String(), Status: p.Status.String(), Current: p.Current, Total: p.Total})
	}}
}

// PullImages pulls refs one after the other, reporting each layer's
// progress and each finished image through emit.
func (d *Daemon) PullImages(ctx context.Context, refs []string, emit func(api.ImageProgress)) error {
	defer releaseMemory()
	if len(refs) == 0 {
		return fmt.Errorf("pull: no image named: %w", errdefs.ErrInvalidArgument)
	}
	for _, ref := range refs {
		img, err := d.pullImage(ctx, ref, emit)
		if err != nil {
			return err
		}
		s := imageSummary(img)
		emit(api.ImageProgress{Ref: ref, Image: &s, Digest: img.Manifest.String()})
	}
	return nil
}

func (d *Daemon) pullImage(ctx context.Context, ref string, emit func(api.ImageProgress)) (image.Image, error) {
	d.log.Info("pulling image", "ref", ref)
	img, err := registry.Pull(ctx, d.images, ref, d.registryOptions(ref, emit))
	if err != nil {
		return image.Image{}, err
	}
	return img, nil
}

// PushImage pushes the stored image ref to the registry its name points
// at.
func (d *Daemon) PushImage(ctx context.Context, ref string, emit func(api.ImageProgress)) error {
	defer releaseMemory()
	md, err := registry.Push(ctx, d.images, ref, d.registryOptions(ref, emit))
	if err != nil {
		return err
	}
	emit(api.ImageProgress{Ref: ref, Digest: md.String()})
	return nil
}

// SaveImages writes refs as one docker-save archive to w. The images are
// resolved before the first byte is written, so a wrong name is an
// ordinary error rather than a broken archive.
func (d *Daemon) SaveImages(ctx context.Context, w io.Writer, refs []string) error {
	defer releaseMemory()
	if len(refs) == 0 {
		return fmt.Errorf("save: no image named: %w", errdefs.ErrInvalidArgument)
	}
	for _, ref := range refs {
		if _, err := d.images.Get(ctx, ref); err != nil {
			return fmt.Errorf("save: %w", err)
		}
	}
	return registry.Save(ctx, d.images, w, refs...)
}

// BootstrapImage makes a base image locally (busybox from the host's
// binary, debian:SUITE with mmdebstrap), for machines that reach no
// registry.
func (d *Daemon) BootstrapImage(ctx context.Context, req api.BootstrapRequest, emit func(api.ImageProgress)) error {
	defer releaseMemory()
	img, err := image.Bootstrap(ctx, d.images, req.Ref, image.BootstrapOptions{
		CacheDir: filepath.Join(d.cfg.StateRoot, bootstrapCacheDir),
		Refresh:  req.Refresh,
		Log:      func(line string) { emit(api.ImageProgress{Ref: req.Ref, Message: line}) },
	})
	if err != nil {
		return err
	}
	s := imageSummary(img)
	emit(api.ImageProgress{Ref: req.Ref, Image: &s, Digest: img.Manifest.String()})
	return nil
}

// ensureImage returns the image ref, pulling it first when it is missing
// and policy allows ("never" does not; "always" pulls even when present).
// A failed pull of a missing image says how to get it offline.
func (d *Daemon) ensureImage(ctx context.Context, ref, policy string, emit func(api.ImageProgress)) (image.Image, error) {
	img, err := d.images.Get(ctx, ref)
	switch {
	case err == nil && policy != "always":
		return img, nil
	case err != nil && !errors.Is(err, errdefs.ErrNotFound):
		return img, err
	case err != nil && policy == "never":
		return img, fmt.Errorf("image %s is not here and pull_policy is never: %w", ref, err)
	case err != nil && policy == "build":
		return img, fmt.Errorf("image %s is not built yet: build it with `stack build` or `stack up --build`: %w", ref, err)
	}
	pulled, perr := d.pullImage(ctx, ref, emit)
	if perr == nil {
		d.log.Info("pulled image", "ref", ref, "id", pulled.ID)
	}
	if perr == nil {
		return pulled, nil
	}
	if err == nil {
		d.log.Warn("pull failed, using the stored image", "ref", ref, "err", perr)
		return img, nil
	}
	if errors.Is(perr, registry.ErrNoRegistry) {
		return img, fmt.Errorf("image %s is not here and %w", ref, perr)
	}
	return img, perr
}

// imageInUse reports whether a container of any project was made from the
// image with config digest id.
func (d *Daemon) imageInUse(id digest.Digest) bool {
	recs, err := d.records("")
	if err != nil {
		return true // unsure: refuse rather than delete an image in use
	}
	for _, r := range recs {
		if r.ImageID == id.String() {
			return true
		}
	}
	return false
}

// registryRoutes adds the routes of pull, push, save and bootstrap. Pull,
// push and bootstrap answer with an NDJSON stream of api.ImageProgress
// lines, the last one carrying the error if the operation failed; save
// answers with the archive.
func (d *Daemon) registryRoutes(mux *routeMux, v string) {
	progress := func(w http.ResponseWriter, op func(emit func(api.ImageProgress)) error) {
		stream(w, func(send func(any) error) error {
			return op(func(p api.ImageProgress) { send(p) })
		})
	}
	mux.HandleFunc("POST "+v+"/images/pull", func(w http.ResponseWriter, r *http.Request) {
		var req api.PullRequest
		if err := decodeJSON(r, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		progress(w, func(emit func(api.ImageProgress)) error { return d.PullImages(r.Context(), req.Refs, emit) })
	})
	mux.HandleFunc("POST "+v+"/images/push", func(w http.ResponseWriter, r *http.Request) {
		var req api.PushRequest
		if err := decodeJSON(r, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		progress(w, func(emit func(api.ImageProgress)) error { return d.PushImage(r.Context(), req.Ref, emit) })
	})
	mux.HandleFunc("POST "+v+"/images/bootstrap", func(w http.ResponseWriter, r *http.Request) {
		var req api.BootstrapRequest
		if err := decodeJSON(r, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		progress(w, func(emit func(api.ImageProgress)) error {
			// A debootstrap that is half done is worth finishing: it is
			// cached for the next attempt.
			return d.BootstrapImage(context.WithoutCancel(r.Context()), req, emit)
		})
	})
	mux.HandleFunc("GET "+v+"/images/save", func(w http.ResponseWriter, r *http.Request) {
		refs := r.URL.Query()["ref"]
		for _, ref := range refs {
			if _, err := d.images.Get(r.Context(), ref); err != nil {
				api.WriteError(w, fmt.Errorf("save: %w", err))
				return
			}
		}
		if len(refs) == 0 {
			api.WriteError(w, fmt.Errorf("save: no image named: %w", errdefs.ErrInvalidArgument))
			return
		}
		w.Header().Set("Content-Type", "application/x-tar")
		if err := d.SaveImages(r.Context(), w, refs); err != nil {
			d.log.Warn("save failed", "refs", refs, "err", err)
			// The status is sent: break the connection so that the client
			// sees a truncated archive, not a complete one.
			panic(http.ErrAbortHandler)
		}
	})
}

// pullPolicy is the service's pull_policy, where a service with a build
// section and no policy is built, not pulled.
func pullPolicy(svc *spec.Service) string {
	if svc.PullPolicy == "" && svc.Build != nil {
		return "build"
	}
	return svc.PullPolicy
}
