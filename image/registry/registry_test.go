package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/image/registry"
	"github.com/stack-dev/stack/internal/errdefs"
)

// anonymous keeps the tests away from the user's ~/.docker/config.json.
var anonymous = authn.NewMultiKeychain()

// server is an in-process registry that counts the layer blobs it serves.
type server struct {
	host      string
	blobGets  atomic.Int64
	user, pwd string // basic auth, when set
}

func newServer(t *testing.T, user, pwd string) *server {
	t.Helper()
	s := &server{user: user, pwd: pwd}
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.user != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u != s.user || p != s.pwd {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			s.blobGets.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s.host = strings.TrimPrefix(ts.URL, "http://")
	return s
}

func (s *server) ref(t *testing.T, repo string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s.host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newStore(t *testing.T) image.Store {
	t.Helper()
	s, err := image.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomImage(t *testing.T, size int64, layers int) v1.Image {
	t.Helper()
	img, err := random.Image(size, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t *testing.T, f func() (v1.Hash, error)) digest.Digest {
	t.Helper()
	h, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return digest.Digest(h.String())
}

func layerDigests(t *testing.T, img v1.Image) []digest.Digest {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []digest.Digest
	for _, l := range m.Layers {
		out = append(out, digest.Digest(l.Digest.String()))
	}
	return out
}

// TestPushPullRoundTrip pushes an image to a registry, pulls it into a
// store, pushes it from the store under another name and checks that the
// registry then holds the very same bytes: manifest, config and layers.
func TestPushPullRoundTrip(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, "", "")
	orig := randomImage(t, 2<<20, 3)
	if err := remote.Write(srv.ref(t, "test/orig:1"), orig); err != nil {
		t.Fatal(err)
	}
	store := newStore(t)
	var mu sync.Mutex
	final := map[digest.Digest]registry.Progress{}
	start := time.Now()
	img, err := registry.Pull(ctx, store, srv.host+"/test/orig:1", registry.Options{Keychain: anonymous, Progress: func(p registry.Progress) {
		mu.Lock()
		defer mu.Unlock()
		final[p.Layer] = p
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pulled a 3-layer image (3 x 2 MiB of random bytes, gzip) in %v", time.Since(start))

	want := digestOf(t, orig.Digest)
	if img.Manifest != want {
		t.Errorf("pulled manifest %s, want %s", img.Manifest, want)
	}
	if got, want := img.ID, digestOf(t, orig.ConfigName); got != want {
		t.Errorf("image ID %s, want config digest %s", got, want)
	}
	if len(img.Names) != 1 || img.Names[0] != srv.host+"/test/orig:1" {
		t.Errorf("names %v", img.Names)
	}
	for _, d := range layerDigests(t, orig) {
		p, ok := final[d]
		if !ok || p.Status != registry.Done || p.Current != p.Total || p.Total == 0 {
			t.Errorf("progress of layer %s: %+v (seen %v)", d, p, ok)
		}
		if _, err := store.Stat(ctx, d); err != nil {
			t.Errorf("layer %s not stored: %v", d, err)
		}
	}

	// Push from the store under another name: the registry must get the
	// same manifest bytes.
	if err := store.Tag(ctx, srv.host+"/test/orig:1", srv.host+"/test/copy:2"); err != nil {
		t.Fatal(err)
	}
	pushed, err := registry.Push(ctx, store, srv.host+"/test/copy:2", registry.Options{Keychain: anonymous})
	if err != nil {
		t.Fatal(err)
	}
	if pushed != want {
		t.Errorf("pushed manifest %s, want %s", pushed, want)
	}
	desc, err := remote.Get(srv.ref(t, "test/copy:2"))
	if err != nil {
		t.Fatal(err)
	}
	origRaw, _ := orig.RawManifest()
	if !bytes.Equal(desc.Manifest, origRaw) {
		t.Errorf("registry manifest differs after the round trip:\n%s\nwant\n%s", desc.Manifest, origRaw)
	}
	back, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layerDigests(t, back) {
		if l != layerDigests(t, orig)[i] {
			t.Errorf("layer %d: %s, want %s", i, l, layerDigests(t, orig)[i])
		}
	}
	gotCfg, _ := back.RawConfigFile()
	wantCfg, _ := orig.RawConfigFile()
	if !bytes.Equal(gotCfg, wantCfg) {
		t.Error("config differs after the round trip")
	}
}

// TestPullSkipsLayersInStore pulls an image that shares all but one layer
// with one already pulled: only the new layer is downloaded.
func TestPullSkipsLayersInStore(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, "", "")
	base := randomImage(t, 1<<20, 2)
	extra, err := random.Layer(1<<20, "application/vnd.docker.image.rootfs.diff.tar.gzip")
	if err != nil {
		t.Fatal(err)
	}
	child, err := mutate.AppendLayers(base, extra)
	if err != nil {
		t.Fatal(err)
	}
	for ref, img := range map[string]v1.Image{"test/base:1": base, "test/child:1": child} {
		if err := remote.Write(srv.ref(t, ref), img); err != nil {
			t.Fatal(err)
		}
	}
	store := newStore(t)
	opts := registry.Options{Keychain: anonymous}
	if _, err := registry.Pull(ctx, store, srv.host+"/test/base:1", opts); err != nil {
		t.Fatal(err)
	}
	before := srv.blobGets.Load()
	var exists atomic.Int64
	opts.Progress = func(p registry.Progress) {
		if p.Status == registry.Exists {
			exists.Add(1)
		}
	}
	if _, err := registry.Pull(ctx, store, srv.host+"/test/child:1", opts); err != nil {
		t.Fatal(err)
	}
	// One layer and the config.
	if got := srv.blobGets.Load() - before; got != 2 {
		t.Errorf("second pull fetched %d blobs, want 2 (the new layer and the config)", got)
	}
	if exists.Load() != 2 {
		t.Errorf("%d layers reported as already present, want 2", exists.Load())
	}
}

// TestPullPicksPlatform pulls a multi-arch index and gets the manifest of
// linux/GOARCH.
func TestPullPicksPlatform(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, "", "")
	want := map[string]v1.Image{}
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"arm64", "amd64", "s390x", "riscv64"} {
		img := randomImage(t, 1024, 1)
		want[arch] = img
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	if err := remote.WriteIndex(srv.ref(t, "test/multi:1"), idx); err != nil {
		t.Fatal(err)
	}
	store := newStore(t)
	img, err := registry.Pull(ctx, store, srv.host+"/test/multi:1", registry.Options{Keychain: anonymous})
	if _, known := want[goruntime.GOARCH]; !known {
		if !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("pull on %s: %v, want not found", goruntime.GOARCH, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if got, w := img.Manifest, digestOf(t, want[goruntime.GOARCH].Digest); got != w {
		t.Errorf("pulled %s, want the linux/%s manifest %s", got, goruntime.GOARCH, w)
	}
	// A platform the index lacks is a clear not-found.
	_, err = registry.Pull(ctx, store, srv.host+"/test/multi:1", registry.Options{Keychain: anonymous, Platform: &v1.Platform{OS: "linux", Architecture: "mips64le"}})
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "linux/mips64le") {
		t.Errorf("pull for a missing platform: %v", err)
	}
}

type staticKeychain struct{ user, pwd string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.pwd}), nil
}

func TestPullErrors(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, "", "")
	if err := remote.Write(srv.ref(t, "test/img:1"), randomImage(t, 1024, 1)); err != nil {
		t.Fatal(err)
	}
	locked := newServer(t, "alice", "secret")
	if err := remote.Write(locked.ref(t, "test/img:1"), randomImage(t, 1024, 1), remote.WithAuth(&authn.Basic{Username: "alice", Password: "secret"})); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		ref      string
		keychain authn.Keychain
		want     []error // nil: success
		mention  string
	}{
		{name: "missing tag", ref: srv.host + "/test/img:nope", want: []error{errdefs.ErrNotFound}, mention: "not found"},
		{name: "missing repository", ref: srv.host + "/test/none:1", want: []error{errdefs.ErrNotFound}},
		{name: "no credentials", ref: locked.host + "/test/img:1", want: []error{registry.ErrUnauthorized, errdefs.ErrFailedPrecondition}, mention: "docker login"},
		{name: "wrong credentials", ref: locked.host + "/test/img:1", keychain: staticKeychain{"alice", "wrong"}, want: []error{registry.ErrUnauthorized}},
		{name: "credentials", ref: locked.host + "/test/img:1", keychain: staticKeychain{"alice", "secret"}},
		{name: "no registry", ref: "127.0.0.1:1/test/img:1", want: []error{registry.ErrNoRegistry, errdefs.ErrUnavailable}, mention: "stack image bootstrap"},
		{name: "invalid reference", ref: "UPPER/case", want: []error{errdefs.ErrInvalidArgument}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := tt.keychain
			if kc == nil {
				kc = anonymous
			}
			_, err := registry.Pull(ctx, newStore(t), tt.ref, registry.Options{Keychain: kc})
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("pull succeeded")
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not wrap %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}
