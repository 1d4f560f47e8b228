package e2e

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// authRegistry is an in-process registry on loopback that wants basic
// auth for everything.
type authRegistry struct {
	host string
	auth authn.Authenticator
}

func newAuthRegistry(t *testing.T, user, pwd string) *authRegistry {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pwd {
			w.Header().Set("WWW-Authenticate", `Basic realm="e2e"`)
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &authRegistry{host: strings.TrimPrefix(srv.URL, "http://"), auth: &authn.Basic{Username: user, Password: pwd}}
}

// push puts the engine's busybox into the registry as ref.
func (a *authRegistry) push(t *testing.T, e *env, ref string) {
	t.Helper()
	archive := filepath.Join(e.dir, "busybox.tar")
	e.mustRun("image", "save", "busybox", "-o", archive)
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(a.auth)); err != nil {
		t.Fatal(err)
	}
}

// layerTypes lists the media types of the layers of repo's manifest, one
// a line.
func (a *authRegistry) layerTypes(t *testing.T, repo string) string {
	t.Helper()
	r, err := name.ParseReference(a.host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithAuth(a.auth))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range m.Layers {
		b.WriteString(string(l.MediaType) + "\n")
	}
	return b.String()
}
