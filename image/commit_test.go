package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stack-dev/stack/image"
)

func tarOf(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b
}

func TestCommit(t *testing.T) {
	ctx := context.Background()
	s, err := image.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "base"), []byte("base\n"), 0o644)
	if _, err := s.ImportRootfs(ctx, "base:1", image.RootfsOptions{Dir: dir, Config: image.Config{Cmd: []string{"sh"}}}); err != nil {
		t.Fatal(err)
	}
	img, err := image.Commit(ctx, s, image.CommitOptions{Base: "base:1", Layer: tarOf(t, map[string]string{"added": "new\n"}),
		Names: []string{"committed:latest"}, CreatedBy: "sh -c echo new > /added", Comment: "from web-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := img.RepoTags(); len(got) != 1 || got[0] != "committed:latest" {
		t.Errorf("tags: %v", got)
	}
	h, err := s.History(ctx, "committed")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].CreatedBy != "sh -c echo new > /added" || h[0].Comment != "from web-1" {
		t.Errorf("history: %+v", h)
	}
	insp, err := s.Inspect(ctx, "committed")
	if err != nil {
		t.Fatal(err)
	}
	if len(insp.RootFS.DiffIDs) != 2 || len(insp.Config.Cmd) != 1 || insp.Config.Cmd[0] != "sh" {
		t.Errorf("committed image: layers %v, cmd %v: want the base's layer and config plus one layer", insp.RootFS.DiffIDs, insp.Config.Cmd)
	}
	if _, err := image.Commit(ctx, s, image.CommitOptions{Base: "nope", Layer: tarOf(t, nil)}); err == nil {
		t.Error("commit on a missing base succeeded")
	}
}
