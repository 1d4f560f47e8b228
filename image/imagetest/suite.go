package imagetest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/internal/errdefs"
)

// StoreSuite runs the conformance tests of image.Store against the
// stores newStore makes; each call must return a new, empty store.
func StoreSuite(t *testing.T, newStore func(t *testing.T) image.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, image.Store)
	}{
		{"BlobRoundTrip", testBlobRoundTrip},
		{"BlobDigestVerified", testBlobDigestVerified},
		{"ConcurrentWrites", testConcurrentWrites},
		{"ImportDockerSave", testImportDockerSave},
		{"ImportOCIArchive", testImportOCIArchive},
		{"ImportOCIIndexPicksPlatform", testImportOCIIndex},
		{"ImportRejectsBadArchive", testImportBad},
		{"ImportRootfsDir", testImportRootfsDir},
		{"Resolve", testResolve},
		{"HistoryAndInspect", testHistoryInspect},
		{"Remove", testRemove},
		{"Prune", testPrune},
		{"RootfsUnpacksOnce", testRootfsShared},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// Fixture layers: a base with a hard link, a symlink and files that the
// second layer deletes (whiteout) or hides (opaque directory).
func baseLayer(t testing.TB) []byte {
	return LayerTar(t,
		Entry{Name: "bin/", Type: tar.TypeDir},
		Entry{Name: "bin/tool", Body: "#!/bin/sh\necho tool\n", Mode: 0o755},
		Entry{Name: "bin/hard", Type: tar.TypeLink, Link: "bin/tool"},
		Entry{Name: "bin/sh", Type: tar.TypeSymlink, Link: "tool"},
		Entry{Name: "etc/", Type: tar.TypeDir},
		Entry{Name: "etc/keep", Body: "keep v1\n"},
		Entry{Name: "etc/gone", Body: "deleted above\n"},
		Entry{Name: "data/old/", Type: tar.TypeDir},
		Entry{Name: "data/old/a", Body: "a\n"},
	)
}

func whiteoutLayer(t testing.TB) []byte {
	return LayerTar(t,
		Entry{Name: "etc/", Type: tar.TypeDir},
		Entry{Name: "etc/.wh.gone"},
		Entry{Name: "etc/added", Body: "added\n"},
		Entry{Name: "data/old/", Type: tar.TypeDir},
		Entry{Name: "data/old/.wh..wh..opq"},
		Entry{Name: "data/old/new", Body: "new\n"},
	)
}

func topLayer(t testing.TB) []byte {
	return LayerTar(t, Entry{Name: "etc/keep", Body: "keep v2\n"})
}

// TestConfig is the runtime config of [FixtureImage].
func TestConfig() v1.Config {
	return v1.Config{Env: []string{"PATH=/bin", "A=1"}, Cmd: []string{"/bin/sh"}, WorkingDir: "/data", User: "1000:1000",
		ExposedPorts: map[string]struct{}{"80/tcp": {}}, Labels: map[string]string{"l": "v"}, StopSignal: "SIGQUIT"}
}

// FixtureImage is a three-layer image with whiteouts, an opaque
// directory, a hard link and a symlink, and an ENV step without a layer.
func FixtureImage(t testing.TB, oci bool) v1.Image {
	return Image(t, oci, TestConfig(),
		Step{Layer: Layer(t, baseLayer(t)), CreatedBy: "ADD base"},
		Step{CreatedBy: "ENV A=1"},
		Step{Layer: Layer(t, whiteoutLayer(t)), CreatedBy: "RUN rm /etc/gone"},
		Step{Layer: Layer(t, topLayer(t)), CreatedBy: "RUN edit keep"},
	)
}

// PlainImage has no whiteouts or devices, so a non-root store can unpack it.
func PlainImage(t testing.TB, oci bool) v1.Image {
	return Image(t, oci, TestConfig(),
		Step{Layer: Layer(t, baseLayer(t)), CreatedBy: "ADD base"},
		Step{Layer: Layer(t, topLayer(t)), CreatedBy: "RUN edit keep"},
	)
}

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantClass(t testing.TB, err, class error) {
	t.Helper()
	if !errors.Is(err, class) {
		t.Fatalf("got error %v, want one wrapping %v", err, class)
	}
}

func testBlobRoundTrip(t *testing.T, s image.Store) {
	ctx := context.Background()
	data := []byte("hello blob")
	d, n, err := s.WriteBlob(ctx, bytes.NewReader(data), "")
	ok(t, err)
	if d != digest.FromBytes(data) || n != int64(len(data)) {
		t.Fatalf("WriteBlob = %s %d", d, n)
	}
	rc, err := s.Open(ctx, d)
	ok(t, err)
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("read %q", got)
	}
	size, err := s.Stat(ctx, d)
	ok(t, err)
	if size != int64(len(data)) {
		t.Fatalf("Stat = %d", size)
	}
	// Writing it again, with its digest, is fine.
	if _, _, err := s.WriteBlob(ctx, bytes.NewReader(data), d); err != nil {
		t.Fatal(err)
	}
	_, err = s.Open(ctx, digest.FromString("absent"))
	wantClass(t, err, errdefs.ErrNotFound)
	_, err = s.Stat(ctx, "sha256:../../etc")
	wantClass(t, err, errdefs.ErrInvalidArgument)
}

func testBlobDigestVerified(t *testing.T, s image.Store) {
	ctx := context.Background()
	want := digest.FromString("other content")
	_, _, err := s.WriteBlob(ctx, strings.NewReader("content"), want)
	wantClass(t, err, errdefs.ErrInvalidArgument)
	_, err = s.Stat(ctx, want)
	wantClass(t, err, errdefs.ErrNotFound)
	_, err = s.Stat(ctx, digest.FromString("content"))
	wantClass(t, err, errdefs.ErrNotFound)
}

func testConcurrentWrites(t *testing.T, s image.Store) {
	ctx := context.Background()
	imgs, err := s.Import(ctx, bytes.NewReader(DockerSave(t, map[string]v1.Image{"base:1": PlainImage(t, false)})), image.ImportOptions{})
	ok(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			same := bytes.Repeat([]byte("same"), 1<<14)
			if _, _, err := s.WriteBlob(ctx, bytes.NewReader(same), digest.FromBytes(same)); err != nil {
				errs <- err
			}
			if _, _, err := s.WriteBlob(ctx, strings.NewReader(fmt.Sprint("blob ", i)), ""); err != nil {
				errs <- err
			}
			if err := s.Tag(ctx, "base:1", fmt.Sprintf("copy:%d", i)); err != nil {
				errs <- err
			}
			if _, err := s.Rootfs(ctx, "base:1"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := s.Get(ctx, imgs[0].ID.String())
	ok(t, err)
	if len(got.Names) != 17 {
		t.Fatalf("after 16 concurrent tags the image has %d names: %v", len(got.Names), got.Names)
	}
}

func testImportDockerSave(t *testing.T, s image.Store) {
	ctx := context.Background()
	fix, plain := FixtureImage(t, false), PlainImage(t, false)
	ar := DockerSave(t, map[string]v1.Image{"fixture:1": fix, "example.com/team/fixture:2": fix, "plain": plain})
	imgs, err := s.Import(ctx, bytes.NewReader(ar), image.ImportOptions{})
	ok(t, err)
	if len(imgs) != 2 {
		t.Fatalf("imported %d images, want 2: %+v", len(imgs), imgs)
	}
	fixID, _ := fix.ConfigName()
	got, err := s.Get(ctx, "fixture:1")
	ok(t, err)
	if got.ID.String() != fixID.String() {
		t.Fatalf("ID %s, want the config digest %s", got.ID, fixID)
	}
	wantTags := []string{"fixture:1", "example.com/team/fixture:2"}
	if !slices.Equal(got.RepoTags(), wantTags) {
		t.Fatalf("RepoTags %v, want %v", got.RepoTags(), wantTags)
	}
	ins, err := s.Inspect(ctx, "fixture:1")
	ok(t, err)
	diffIDs, _ := fixDiffIDs(fix)
	if !slices.Equal(ins.RootFS.DiffIDs, diffIDs) {
		t.Fatalf("diffIDs %v, want %v", ins.RootFS.DiffIDs, diffIDs)
	}
	if _, err := s.Get(ctx, "docker.io/library/plain:latest"); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	ok(t, err)
	if len(list) != 2 {
		t.Fatalf("List has %d images", len(list))
	}
	// Importing the same archive again changes nothing.
	again, err := s.Import(ctx, bytes.NewReader(ar), image.ImportOptions{})
	ok(t, err)
	if len(again) != 2 {
		t.Fatalf("reimport: %d images", len(again))
	}
	list2, _ := s.List(ctx)
	if len(list2) != 2 {
		t.Fatalf("reimport: List has %d images", len(list2))
	}
}

func fixDiffIDs(img v1.Image) ([]digest.Digest, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, h := range cf.RootFS.DiffIDs {
		out = append(out, digest.Digest(h.String()))
	}
	return out, nil
}

func testImportOCIArchive(t *testing.T, s image.Store) {
	ctx := context.Background()
	fix, plain := FixtureImage(t, true), PlainImage(t, true)
	ar := OCIArchive(t, []string{"registry.local:5000/fix:v1", "", "2.0"}, []v1.Image{fix, plain, plain})
	imgs, err := s.Import(ctx, bytes.NewReader(ar), image.ImportOptions{Name: "plain"})
	ok(t, err)
	if len(imgs) != 3 {
		t.Fatalf("imported %d images, want 3", len(imgs))
	}
	md, _ := fix.Digest()
	got, err := s.Get(ctx, "registry.local:5000/fix:v1")
	ok(t, err)
	if got.Manifest.String() != md.String() {
		t.Fatalf("manifest digest %s, want %s unchanged", got.Manifest, md)
	}
	p, err := s.Get(ctx, "plain:2.0")
	ok(t, err)
	if !slices.Equal(p.RepoTags(), []string{"plain:2.0", "plain:latest"}) {
		t.Fatalf("plain tags %v", p.RepoTags())
	}
	// Every blob came along, digests verified.
	mf, _ := fix.Manifest()
	for _, l := range mf.Layers {
		if _, err := s.Stat(ctx, digest.Digest(l.Digest.String())); err != nil {
			t.Fatal(err)
		}
	}
}

func testImportOCIIndex(t *testing.T, s image.Store) {
	ctx := context.Background()
	mine, other := PlainImage(t, true), FixtureImage(t, true)
	arch := "s390x"
	if goruntime.GOARCH == arch {
		arch = "amd64"
	}
	ar := OCIIndexArchive(t, "docker.io/library/multi:1",
		[]v1.Platform{{OS: "linux", Architecture: arch}, {OS: "linux", Architecture: goruntime.GOARCH}},
		[]v1.Image{other, mine})
	imgs, err := s.Import(ctx, bytes.NewReader(ar), image.ImportOptions{})
	ok(t, err)
	want, _ := mine.Digest()
	if len(imgs) != 1 || imgs[0].Manifest.String() != want.String() {
		t.Fatalf("imported %+v, want the %s manifest %s", imgs, goruntime.GOARCH, want)
	}
	if !slices.Equal(imgs[0].RepoTags(), []string{"multi:1"}) {
		t.Fatalf("tags %v", imgs[0].RepoTags())
	}
}

func testImportBad(t *testing.T, s image.Store) {
	ctx := context.Background()
	_, err := s.Import(ctx, strings.NewReader("not a tar"), image.ImportOptions{})
	wantClass(t, err, errdefs.ErrInvalidArgument)
	escape := LayerTar(t, Entry{Name: "../escape", Body: "x"})
	_, err = s.Import(ctx, bytes.NewReader(escape), image.ImportOptions{})
	wantClass(t, err, errdefs.ErrInvalidArgument)
	// A layer whose content does not match the config's diffID.
	lie := LayerTar(t,
		Entry{Name: "manifest.json", Body: `[{"Config":"c.json","RepoTags":["lie:1"],"Layers":["l.tar"]}]`},
		Entry{Name: "c.json", Body: `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digest.FromString("x").String() + `"]}}`},
		Entry{Name: "l.tar", Body: string(LayerTar(t, Entry{Name: "f", Body: "y"}))},
	)
	_, err = s.Import(ctx, bytes.NewReader(lie), image.ImportOptions{})
	wantClass(t, err, errdefs.ErrInvalidArgument)
	if _, err := s.Get(ctx, "lie:1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("a rejected image is visible: %v", err)
	}
}

func testImportRootfsDir(t *testing.T, s image.Store) {
	ctx := context.Background()
	dir := t.TempDir()
	ok(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	ok(t, os.WriteFile(filepath.Join(dir, "bin", "app"), []byte("app"), 0o755))
	ok(t, os.Symlink("app", filepath.Join(dir, "bin", "alias")))
	cfg := image.Config{Cmd: []string{"/bin/app"}, Env: []string{"X=1"}}
	img, err := s.ImportRootfs(ctx, "myroot:dev", image.RootfsOptions{Dir: dir, Config: cfg, Comment: "from dir"})
	ok(t, err)
	img2, err := s.ImportRootfs(ctx, "myroot:tar", image.RootfsOptions{Tar: bytes.NewReader(LayerTar(t, Entry{Name: "bin/app", Body: "app", Mode: 0o755})), Config: cfg})
	ok(t, err)
	ins, err := s.Inspect(ctx, "myroot:dev")
	ok(t, err)
	if !slices.Equal(ins.Config.Cmd, cfg.Cmd) || len(ins.RootFS.DiffIDs) != 1 || ins.Os != "linux" {
		t.Fatalf("inspect %+v", ins)
	}
	h, err := s.History(ctx, "myroot:dev")
	ok(t, err)
	if len(h) != 1 || h[0].Comment != "from dir" || h[0].Size != 3 || h[0].ID != img.ID.String() {
		t.Fatalf("history %+v", h)
	}
	rfs, err := s.Rootfs(ctx, img2.ID.String())
	ok(t, err)
	b, err := os.ReadFile(filepath.Join(rfs.Layers[0], "bin", "app"))
	if err != nil || string(b) != "app" {
		t.Fatalf("unpacked tar rootfs: %q %v", b, err)
	}
	rfs, err = s.Rootfs(ctx, "myroot:dev")
	ok(t, err)
	if l, err := os.Readlink(filepath.Join(rfs.Layers[0], "bin", "alias")); err != nil || l != "app" {
		t.Fatalf("symlink from dir: %q %v", l, err)
	}
}

func testResolve(t *testing.T, s image.Store) {
	ctx := context.Background()
	imgs, err := s.Import(ctx, bytes.NewReader(DockerSave(t, map[string]v1.Image{"busybox:latest": PlainImage(t, false)})), image.ImportOptions{})
	ok(t, err)
	id := imgs[0].ID
	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox", "library/busybox:latest",
		id.String(), id.Encoded(), id.Encoded()[:12], "busybox@" + imgs[0].Manifest.String()} {
		got, err := s.Get(ctx, ref)
		if err != nil {
			t.Errorf("Get(%q): %v", ref, err)
			continue
		}
		if got.ID != id {
			t.Errorf("Get(%q) = %s", ref, got.ID)
		}
	}
	for _, ref := range []string{"busybox:other", "nothere", "0000000000ff"} {
		_, err := s.Get(ctx, ref)
		wantClass(t, err, errdefs.ErrNotFound)
	}
	_, err = s.Get(ctx, "BusyBox")
	wantClass(t, err, errdefs.ErrInvalidArgument)
	err = s.Tag(ctx, "busybox", "bad@"+id.String())
	wantClass(t, err, errdefs.ErrInvalidArgument)
}

func testHistoryInspect(t *testing.T, s image.Store) {
	ctx := context.Background()
	_, err := s.Import(ctx, bytes.NewReader(DockerSave(t, map[string]v1.Image{"fix:1": FixtureImage(t, false)})), image.ImportOptions{})
	ok(t, err)
	h, err := s.History(ctx, "fix:1")
	ok(t, err)
	var lines []string
	for _, e := range h {
		lines = append(lines, fmt.Sprintf("%s|%s|%d|%v", e.Created.Format("15:04"), e.CreatedBy, e.Size, e.EmptyLayer))
	}
	want := []string{
		"03:07|RUN edit keep|8|false",
		"03:06|RUN rm /etc/gone|10|false",
		"03:05|ENV A=1|0|true",
		"03:04|ADD base|44|false",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("history\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	img, _ := s.Get(ctx, "fix:1")
	if h[0].ID != img.ID.String() || h[1].ID != "<missing>" {
		t.Fatalf("history IDs %q %q", h[0].ID, h[1].ID)
	}
	ins, err := s.Inspect(ctx, "fix:1")
	ok(t, err)
	if ins.Config.WorkingDir != "/data" || ins.Config.User != "1000:1000" || ins.Config.StopSignal != "SIGQUIT" ||
		!slices.Equal(ins.Config.Env, []string{"PATH=/bin", "A=1"}) || len(ins.RootFS.DiffIDs) != 3 || ins.Size != 62 {
		t.Fatalf("inspect %+v", ins)
	}
	b, err := json.Marshal(ins)
	ok(t, err)
	for _, key := range []string{`"Id":"sha256:`, `"RepoTags":["fix:1"]`, `"ExposedPorts":{"80/tcp":{}}`, `"RootFS":{"type":"layers"`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("inspect JSON lacks %s: %s", key, b)
		}
	}
}

func testRemove(t *testing.T, s image.Store) {
	ctx := context.Background()
	imgs, err := s.Import(ctx, bytes.NewReader(DockerSave(t, map[string]v1.Image{"a:1": PlainImage(t, false), "b:1": FixtureImage(t, false)})), image.ImportOptions{})
	ok(t, err)
	plain := imgs[0]
	if plain.RepoTags()[0] != "a:1" {
		plain = imgs[1]
	}
	ok(t, s.Tag(ctx, "a:1", "a:2"))
	inUse := func(id digest.Digest) bool { return id == plain.ID }

	// The last tag of a repository takes that repository's digest with
	// it (docker's rmi of a pulled image); another repository's stays.
	if rd, isRD := s.(interface {
		AddRepoDigest(ctx context.Context, md digest.Digest, repoDigest string) error
	}); isRD {
		ok(t, s.Tag(ctx, "a:1", "reg.example/team/a:1"))
		pulled := "reg.example/team/a@" + plain.Manifest.String()
		ok(t, rd.AddRepoDigest(ctx, plain.Manifest, pulled))
		ok(t, rd.AddRepoDigest(ctx, plain.Manifest, "docker.io/library/a@"+plain.Manifest.String()))
		rep, err := s.Remove(ctx, "reg.example/team/a:1", image.RemoveOptions{})
		ok(t, err)
		if !slices.Equal(rep.Untagged, []string{"reg.example/team/a:1", pulled}) || len(rep.Deleted) != 0 {
			t.Fatalf("untag of a repository's last tag: %+v", rep)
		}
		ins, err := s.Inspect(ctx, "a:1")
		ok(t, err)
		if len(ins.RepoDigests) != 1 || !strings.HasPrefix(ins.RepoDigests[0], "a@") {
			t.Fatalf("repo digests after the untag: %v, want a's alone", ins.RepoDigests)
		}
	}

	// By ID with two names: refused.
	_, err = s.Remove(ctx, plain.ID.Encoded()[:12], image.RemoveOptions{})
	wantClass(t, err, errdefs.ErrFailedPrecondition)
	// By name with another name left: untag only, even in use.
	rep, err := s.Remove(ctx, "a:2", image.RemoveOptions{InUse: inUse})
	ok(t, err)
	if !slices.Equal(rep.Untagged, []string{"docker.io/library/a:2"}) || len(rep.Deleted) != 0 {
		t.Fatalf("untag report %+v", rep)
	}
	// Last name of an image in use: refused.
	_, err = s.Remove(ctx, "a:1", image.RemoveOptions{InUse: inUse})
	wantClass(t, err, errdefs.ErrFailedPrecondition)
	_, err = s.Remove(ctx, plain.ID.String(), image.RemoveOptions{InUse: inUse})
	wantClass(t, err, errdefs.ErrFailedPrecondition)
	// Not in use: deleted, with the blobs only it used.
	rep, err = s.Remove(ctx, "a:1", image.RemoveOptions{})
	ok(t, err)
	if len(rep.Deleted) == 0 || !slices.Contains(rep.Deleted, plain.ID) {
		t.Fatalf("delete report %+v", rep)
	}
	_, err = s.Get(ctx, plain.ID.String())
	wantClass(t, err, errdefs.ErrNotFound)
	// The other image shares the base layer: it still unpacks... its blobs are intact.
	ins, err := s.Inspect(ctx, "b:1")
	ok(t, err)
	if len(ins.RootFS.DiffIDs) != 3 {
		t.Fatal(ins.RootFS)
	}
	other, _ := s.Get(ctx, "b:1")
	if _, err := s.Stat(ctx, other.Manifest); err != nil {
		t.Fatal(err)
	}
	_, err = s.Remove(ctx, "nothere", image.RemoveOptions{})
	wantClass(t, err, errdefs.ErrNotFound)
}

func testPrune(t *testing.T, s image.Store) {
	ctx := context.Background()
	_, err := s.Import(ctx, bytes.NewReader(DockerSave(t, map[string]v1.Image{"keep:1": PlainImage(t, false)})), image.ImportOptions{})
	ok(t, err)
	// An untagged image (dangling) and a stray blob.
	_, err = s.ImportRootfs(ctx, "dangling:1", image.RootfsOptions{Tar: bytes.NewReader(LayerTar(t, Entry{Name: "only-here", Body: "x"}))})
	ok(t, err)
	dangling, _ := s.Get(ctx, "dangling:1")
	_, err = s.Remove(ctx, "dangling:1", image.RemoveOptions{InUse: func(digest.Digest) bool { return true }, Force: true})
	ok(t, err)
	stray, _, err := s.WriteBlob(ctx, strings.NewReader("stray"), "")
	ok(t, err)

	// A grace period keeps recent blobs.
	rep, err := s.Prune(ctx, image.PruneOptions{GracePeriod: 1 << 40})
	ok(t, err)
	if len(rep.BlobsDeleted) != 0 || len(rep.ImagesDeleted) != 1 {
		t.Fatalf("prune with grace %+v", rep)
	}
	if _, err := s.Stat(ctx, stray); err != nil {
		t.Fatal("grace period not honoured")
	}
	rep, err = s.Prune(ctx, image.PruneOptions{})
	ok(t, err)
	if !slices.Contains(rep.BlobsDeleted, stray) || !slices.Contains(rep.BlobsDeleted, dangling.ID) || rep.Reclaimed == 0 {
		t.Fatalf("prune %+v", rep)
	}
	if _, err := s.Rootfs(ctx, "keep:1"); err != nil {
		t.Fatalf("prune broke a named image: %v", err)
	}
	// All: unused named images go too, used ones stay.
	keep, _ := s.Get(ctx, "keep:1")
	rep, err = s.Prune(ctx, image.PruneOptions{All: true, InUse: func(id digest.Digest) bool { return id == keep.ID }})
	ok(t, err)
	if len(rep.ImagesDeleted) != 0 {
		t.Fatalf("pruned an image in use: %+v", rep)
	}
	rep, err = s.Prune(ctx, image.PruneOptions{All: true})
	ok(t, err)
	if len(rep.ImagesDeleted) != 1 || len(rep.LayersDeleted) != 2 {
		t.Fatalf("prune all %+v", rep)
	}
	if list, _ := s.List(ctx); len(list) != 0 {
		t.Fatalf("left %+v", list)
	}
}

func testRootfsShared(t *testing.T, s image.Store) {
	ctx := context.Background()
	_, err := s.Import(ctx, bytes.NewReader(DockerSave(t, map[string]v1.Image{"p:1": PlainImage(t, false)})), image.ImportOptions{})
	ok(t, err)
	_, err = s.ImportRootfs(ctx, "p:2", image.RootfsOptions{Tar: bytes.NewReader(baseLayer(t))})
	ok(t, err)
	r1, err := s.Rootfs(ctx, "p:1")
	ok(t, err)
	r2, err := s.Rootfs(ctx, "p:2")
	ok(t, err)
	if len(r1.Layers) != 2 || r1.Layers[0] != r2.Layers[0] {
		t.Fatalf("base layer not shared: %v %v", r1.Layers, r2.Layers)
	}
	if !slices.Equal(r1.Config.Cmd, []string{"/bin/sh"}) || r1.Config.WorkingDir != "/data" {
		t.Fatalf("config %+v", r1.Config)
	}
	base := r1.Layers[0]
	b, err := os.ReadFile(filepath.Join(base, "etc", "keep"))
	if err != nil || string(b) != "keep v1\n" {
		t.Fatalf("base etc/keep %q %v", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(r1.Layers[1], "etc", "keep")); string(b) != "keep v2\n" {
		t.Fatalf("top etc/keep %q", b)
	}
	var a, h os.FileInfo
	a, err = os.Stat(filepath.Join(base, "bin", "tool"))
	ok(t, err)
	h, err = os.Stat(filepath.Join(base, "bin", "hard"))
	ok(t, err)
	if !os.SameFile(a, h) || a.Mode().Perm() != 0o755 || !a.ModTime().Equal(Epoch()) {
		t.Fatalf("hard link or metadata lost: %v %v %v", os.SameFile(a, h), a.Mode(), a.ModTime())
	}
	if l, _ := os.Readlink(filepath.Join(base, "bin", "sh")); l != "tool" {
		t.Fatalf("symlink %q", l)
	}
}
