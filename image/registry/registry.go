package registry

import (
	"context"
	"fmt"
	"net/http"
	goruntime "runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/stack-dev/stack/image"
)

// Store is what this package needs of the local image store
// ([image.Store] has it all).
type Store interface {
	image.Content
	Create(ctx context.Context, manifest digest.Digest, names ...string) (image.Image, error)
	Get(ctx context.Context, ref string) (image.Image, error)
}

// Options configure [Pull] and [Push]. The zero value pulls for
// linux/GOARCH with the user's docker credentials.
type Options struct {
	// Keychain supplies registry credentials. Optional:
	// authn.DefaultKeychain (~/.docker/config.json).
	Keychain authn.Keychain
	// Transport carries the requests. Optional: remote.DefaultTransport.
	Transport http.RoundTripper
	// Platform is the platform picked from a multi-arch index. Optional:
	// linux and the architecture stack was built for.
	Platform *v1.Platform
	// Jobs is how many layers are downloaded or uploaded at once.
	// Optional: 3, as docker does.
	Jobs int
	// Progress receives the progress of every layer. It is called from
	// several goroutines, but never concurrently for one layer. Optional.
	Progress func(Progress)
	// Insecure lists the registries ("host[:port]", or a CIDR of their
	// addresses) that may be reached over plain HTTP or with a
	// certificate that does not verify, as docker's insecure-registries.
	// Loopback registries always may; any other needs TLS. Optional.
	Insecure []string
}

// Status is the state of one layer in a [Progress] report.
type Status int

const (
	// Exists: the layer is already in the store (pull) or the registry
	// (push) and is not transferred.
	Exists Status = iota
	// Transferring: Current of Total bytes have been moved.
	Transferring
	// Done: the layer has been transferred and verified.
	Done
)

func (s Status) String() string {
	switch s {
	case Exists:
		return "exists"
	case Transferring:
		return "transferring"
	case Done:
		return "done"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Progress reports the transfer of one layer.
type Progress struct {
	Layer   digest.Digest
	Status  Status
	Current int64
	Total   int64
}

func (o Options) platform() v1.Platform {
	if o.Platform != nil {
		return *o.Platform
	}
	return v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}
}

func (o Options) jobs() int {
	if o.Jobs > 0 {
		return o.Jobs
	}
	return 3
}

func (o Options) progress(p Progress) {
	if o.Progress != nil {
		o.Progress(p)
	}
}

func (o Options) remote(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	return []remote.Option{
		remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithPlatform(o.platform()), remote.WithJobs(o.jobs()),
		remote.WithTransport(newInsecure(o.Insecure).transport(o.Transport)),
	}
}

// parse normalises ref as the store does ("busybox" is
// "docker.io/library/busybox:latest") and returns it with its registry
// form.
func (o Options) parse(ref string) (image.Reference, name.Reference, error) {
	r, err := image.ParseReference(ref)
	if err != nil {
		return r, nil, err
	}
	nr, err := name.ParseReference(r.String(), newInsecure(o.Insecure).nameOptions(r.Domain)...)
	if err != nil {
		return r, nil, fmt.Errorf("reference %q: %v: %w", ref, err, errInvalid)
	}
	return r, nr, nil
}
