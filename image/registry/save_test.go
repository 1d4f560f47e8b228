package registry_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/image/registry"
)

// TestSaveImportRoundTrip saves a pulled image and imports the archive
// into another store: the image ID (config digest) and the layers'
// diffIDs survive, and the archive has docker's layout.
func TestSaveImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, "", "")
	orig := randomImage(t, 256<<10, 3)
	if err := remote.Write(srv.ref(t, "test/save:1"), orig); err != nil {
		t.Fatal(err)
	}
	src := newStore(t)
	img, err := registry.Pull(ctx, src, srv.host+"/test/save:1", registry.Options{Keychain: anonymous})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := registry.Save(ctx, src, &buf, srv.host+"/test/save:1"); err != nil {
		t.Fatal(err)
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	files := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = true
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(manifest) != 1 || len(manifest[0].Layers) != 3 || manifest[0].RepoTags[0] != srv.host+"/test/save:1" ||
		manifest[0].Config != img.ID.Encoded()+".json" {
		t.Fatalf("manifest.json: %+v", manifest)
	}
	for _, l := range append(manifest[0].Layers, manifest[0].Config) {
		if !files[l] {
			t.Errorf("archive lacks %s", l)
		}
	}
	dst := newStore(t)
	imgs, err := dst.Import(ctx, &buf, image.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].ID != img.ID {
		t.Fatalf("imported %+v, want ID %s", imgs, img.ID)
	}
	a, _ := src.Inspect(ctx, img.ID.String())
	b, _ := dst.Inspect(ctx, img.ID.String())
	for i := range a.RootFS.DiffIDs {
		if a.RootFS.DiffIDs[i] != b.RootFS.DiffIDs[i] {
			t.Errorf("layer %d: diffID %s, want %s", i, b.RootFS.DiffIDs[i], a.RootFS.DiffIDs[i])
		}
	}
	if len(b.RepoTags) != 1 || b.RepoTags[0] != srv.host+"/test/save:1" {
		t.Errorf("imported tags %v", b.RepoTags)
	}
}
