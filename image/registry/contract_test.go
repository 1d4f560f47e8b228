package registry_test

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/image/registry"
)

// TestPushCompressesAndRecordsDigests: a layer stored uncompressed (as
// builds and imports of a root filesystem store them) is pushed gzip-
// compressed; the pushed digest is among the image's RepoDigests, and a
// pull into another store records the same digest and gives the same ID.
func TestPushCompressesAndRecordsDigests(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, "", "")
	s := newStore(t)
	dir := t.TempDir()
	img, err := s.ImportRootfs(ctx, "app:1", image.RootfsOptions{Dir: dir, Config: image.Config{Cmd: []string{"true"}}})
	if err != nil {
		t.Fatal(err)
	}
	ref := srv.host + "/team/app:1"
	if err := s.Tag(ctx, "app:1", ref); err != nil {
		t.Fatal(err)
	}
	pushed, err := registry.Push(ctx, s, ref, registry.Options{Keychain: anonymous})
	if err != nil {
		t.Fatal(err)
	}
	remoteImg, err := remote.Image(srv.ref(t, "team/app:1"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := remoteImg.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if l.MediaType != types.OCILayer && l.MediaType != types.DockerLayer {
			t.Errorf("layer %s pushed as %s, want gzip", l.Digest, l.MediaType)
		}
	}
	if d, _ := remoteImg.Digest(); d.String() != pushed.String() {
		t.Errorf("Push said %s, the registry has %s", pushed, d)
	}
	want := srv.host + "/team/app@" + pushed.String()
	if in, err := s.Inspect(ctx, img.ID.String()); err != nil || len(in.RepoDigests) != 1 || in.RepoDigests[0] != want {
		t.Errorf("after push: RepoDigests %v (%v), want [%s]", in.RepoDigests, err, want)
	}
	other := newStore(t)
	got, err := registry.Pull(ctx, other, ref, registry.Options{Keychain: anonymous})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != img.ID {
		t.Errorf("pulled ID %s, pushed %s", got.ID, img.ID)
	}
	if in, err := other.Inspect(ctx, ref); err != nil || len(in.RepoDigests) != 1 || in.RepoDigests[0] != want {
		t.Errorf("after pull: RepoDigests %v (%v), want [%s]", in.RepoDigests, err, want)
	}
	// A second push uploads the same compressed blobs: the same digest.
	again, err := registry.Push(ctx, s, ref, registry.Options{Keychain: anonymous})
	if err != nil || again != pushed {
		t.Errorf("second push: %s, %v; want %s", again, err, pushed)
	}
}

// TestCheckLogin: the right credentials pass, wrong ones are refused.
func TestCheckLogin(t *testing.T) {
	srv := newServer(t, "dev", "s3cret")
	ctx := context.Background()
	if err := registry.CheckLogin(ctx, srv.host, "dev", "s3cret", registry.Options{}); err != nil {
		t.Errorf("good credentials: %v", err)
	}
	if err := registry.CheckLogin(ctx, srv.host, "dev", "wrong", registry.Options{}); err == nil {
		t.Error("wrong password accepted")
	}
}

// TestHistoryShowsTheConfig: an image whose config has no history (tools
// other than docker build write none) has no history rows, as docker
// shows it; stack invented one per layer before.
func TestHistoryShowsTheConfig(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, "", "")
	img := randomImage(t, 64, 2)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.History = nil
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(srv.ref(t, "bare:1"), img); err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	if _, err := registry.Pull(ctx, s, srv.host+"/bare:1", registry.Options{Keychain: anonymous}); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(ctx, srv.host+"/bare:1")
	if err != nil || len(h) != 0 {
		t.Errorf("history %v (%v), want none", h, err)
	}
}
