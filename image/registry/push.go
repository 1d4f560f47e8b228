package registry

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
)

// Push uploads the stored image ref to the registry its name points at
// (ref "localhost:5000/app:1" goes to localhost:5000). Blobs the registry
// already has are not uploaded again. Layers stored uncompressed (built or
// committed ones) are pushed gzip-compressed, under a manifest of their
// own; the config, and so the image ID, is the stored one. Push returns
// the digest of the pushed manifest and records it among the image's
// RepoDigests. Progress is reported for the image as a whole, under the
// stored manifest's digest.
func Push(ctx context.Context, s Store, ref string, opts Options) (digest.Digest, error) {
	r, nr, err := opts.parse(ref)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	img, stored, err := openImage(ctx, s, ref)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	raw, err := readBlob(ctx, s, stored.Manifest)
	if err == nil {
		raw, err = compressedManifest(ctx, s, raw)
	}
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	if img, err = imageFromManifest(ctx, s, raw); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	pushed := digest.FromBytes(raw)
	ropts := opts.remote(ctx)
	if opts.Progress != nil {
		ch := make(chan v1.Update, 16)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for u := range ch {
				st := Transferring
				if u.Total > 0 && u.Complete == u.Total {
					st = Done
				}
				opts.progress(Progress{Layer: stored.Manifest, Status: st, Current: u.Complete, Total: u.Total})
			}
		}()
		defer func() { <-done }()
		ropts = append(ropts, remote.WithProgress(ch))
	}
	if err := remote.Write(nr, img, ropts...); err != nil {
		return "", fmt.Errorf("push %w", classify(ref, err))
	}
	if err := recordRepoDigest(ctx, s, stored.Manifest, r.Name(), pushed); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return pushed, nil
}
