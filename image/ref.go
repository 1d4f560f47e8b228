package image

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/stack-dev/stack/internal/errdefs"
)

// The defaults docker applies to a reference that names no registry, no
// namespace or no tag.
const (
	DefaultDomain    = "docker.io"
	officialRepoPath = "library"
	DefaultTag       = "latest"
	legacyDomain     = "index.docker.io"
)

// The reference grammar's expressions compile on first use, not at
// start: every run of the binary (the CLI, each container's shim) would
// otherwise pay for them, tagRE's {0,127} alone unrolling to 180 KB.
var (
	// pathComponentRE is one path component of a repository name, as the
	// distribution reference grammar defines it.
	pathComponentRE = lazyRE(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	// domainRE is a registry host with an optional port.
	domainRE = lazyRE(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$`)
	tagRE    = lazyRE(`^[\w][\w.-]{0,127}$`)
	idRE     = lazyRE(`^(?:sha256:)?[0-9a-f]{1,64}$`)
)

func lazyRE(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// Reference is a normalised image reference: the registry domain, the
// repository path within it, and a tag and/or a manifest digest.
//
// Reference values are produced by [ParseReference] and always carry a
// domain and a path; the tag is [DefaultTag] when neither a tag nor a digest
// was given.
type Reference struct {
	Domain string
	Path   string
	Tag    string
	Digest digest.Digest
}

// ParseReference parses s and normalises it the way docker does:
// "busybox" becomes "docker.io/library/busybox:latest" and "me/app" becomes
// "docker.io/me/app:latest". It returns an error wrapping
// [errdefs.ErrInvalidArgument] when s is not a valid reference.
func ParseReference(s string) (Reference, error) {
	invalid := func(why string) (Reference, error) {
		return Reference{}, fmt.Errorf("invalid reference %q: %s: %w", s, why, errdefs.ErrInvalidArgument)
	}
	if s == "" {
		return invalid("empty")
	}
	if len(s) > 255 {
		return invalid("longer than 255 characters")
	}
	var r Reference
	rest := s
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		d, err := digest.Parse(rest[i+1:])
		if err != nil {
			return invalid("bad digest")
		}
		r.Digest = d
		rest = rest[:i]
	}
	// A tag follows the last colon that comes after the last slash; a colon
	// before it belongs to a registry port.
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && i > strings.LastIndexByte(rest, '/') {
		r.Tag = rest[i+1:]
		rest = rest[:i]
		if !tagRE().MatchString(r.Tag) {
			return invalid("bad tag")
		}
	}
	if rest == "" {
		return invalid("empty name")
	}
	domain, path := splitDomain(rest)
	if !domainRE().MatchString(domain) {
		return invalid("bad registry domain")
	}
	for _, c := range strings.Split(path, "/") {
		if !pathComponentRE().MatchString(c) {
			if strings.ToLower(c) != c {
				return invalid("repository name must be lowercase")
			}
			return invalid("bad repository name")
		}
	}
	r.Domain, r.Path = domain, path
	if r.Tag == "" && r.Digest == "" {
		r.Tag = DefaultTag
	}
	return r, nil
}

// splitDomain separates the registry domain from the repository path, with
// docker's rule: the first component is a domain only if it contains a dot
// or a colon or is "localhost".
func splitDomain(name string) (domain, path string) {
	i := strings.IndexByte(name, '/')
	if i < 0 || (!strings.ContainsAny(name[:i], ".:") && name[:i] != "localhost" && strings.ToLower(name[:i]) == name[:i]) {
		domain, path = DefaultDomain, name
	} else {
		domain, path = name[:i], name[i+1:]
	}
	if domain == legacyDomain {
		domain = DefaultDomain
	}
	if domain == DefaultDomain && !strings.ContainsRune(path, '/') {
		path = officialRepoPath + "/" + path
	}
	return domain, path
}

// Name returns the full repository name, e.g. "docker.io/library/busybox".
func (r Reference) Name() string { return r.Domain + "/" + r.Path }

// String returns the full normalised reference, e.g.
// "docker.io/library/busybox:latest".
func (r Reference) String() string { return r.Name() + r.suffix() }

// FamiliarName returns the repository name as docker displays it: without
// "docker.io/" and without "library/" for official images.
func (r Reference) FamiliarName() string {
	if r.Domain != DefaultDomain {
		return r.Name()
	}
	if p, ok := strings.CutPrefix(r.Path, officialRepoPath+"/"); ok && !strings.ContainsRune(p, '/') {
		return p
	}
	return r.Path
}

// Familiar returns the reference as docker displays it, e.g.
// "busybox:latest".
func (r Reference) Familiar() string { return r.FamiliarName() + r.suffix() }

func (r Reference) suffix() string {
	s := ""
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// NormalizeReference returns the full normalised form of s, e.g.
// "busybox" -> "docker.io/library/busybox:latest".
func NormalizeReference(s string) (string, error) {
	r, err := ParseReference(s)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

// FamiliarReference returns the short form docker displays for the full
// reference s; it returns s unchanged when s does not parse.
func FamiliarReference(s string) string {
	r, err := ParseReference(s)
	if err != nil {
		return s
	}
	return r.Familiar()
}
