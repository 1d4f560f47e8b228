package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/stack-dev/stack/internal/errdefs"
)

// CheckLogin checks that the registry server accepts username and
// password, as docker login does before it stores them: it asks for a
// token where the registry hands out tokens, and reads /v2/ with the
// credentials either way. server is a registry host[:port]; docker.io and
// index.docker.io name Docker Hub.
func CheckLogin(ctx context.Context, server, username, password string, opts Options) error {
	in := newInsecure(opts.Insecure)
	reg, err := name.NewRegistry(server, in.nameOptions(server)...)
	if err != nil {
		return fmt.Errorf("login %s: %v: %w", server, err, errInvalid)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: username, Password: password})
	rt, err := transport.NewWithContext(ctx, reg, auth, in.transport(opts.Transport), []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return fmt.Errorf("login %s: %w", server, classifyLogin(err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr()), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return fmt.Errorf("login %s: %w", server, err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("login %s: %s: %w: %w", server, resp.Status, ErrUnauthorized, errdefs.ErrFailedPrecondition)
	case resp.StatusCode >= 300:
		return fmt.Errorf("login %s: %s: %w", server, resp.Status, errdefs.ErrUnavailable)
	}
	return nil
}

func classifyLogin(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%v: %w: %w", err, ErrUnauthorized, errdefs.ErrFailedPrecondition)
	}
	return err
}
