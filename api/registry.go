package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// PullRequest asks the daemon to pull images from their registries.
type PullRequest struct {
	// Refs are the images to pull (name[:tag] or name@digest). Required.
	Refs []string `json:"refs"`
}

// PushRequest asks the daemon to push a stored image to the registry its
// name points at.
type PushRequest struct {
	Ref string `json:"ref"` // required
}

// BootstrapRequest asks the daemon to make a base image locally:
// "busybox" or "debian:SUITE".
type BootstrapRequest struct {
	Ref string `json:"ref"` // required
	// Refresh rebuilds a cached root filesystem instead of importing it.
	Refresh bool `json:"refresh,omitempty"`
}

// ImageProgress is one line of the NDJSON stream of a pull, push or
// bootstrap. Exactly one of its groups is set: a layer's progress, a
// message, the resulting image, or the operation's error (the last line).
type ImageProgress struct {
	// Ref is the image the line is about.
	Ref string `json:"ref,omitempty"`
	// Layer, Status ("exists", "transferring", "done"), Current and Total
	// report a layer's transfer in bytes.
	Layer   string `json:"layer,omitempty"`
	Status  string `json:"status,omitempty"`
	Current int64  `json:"current,omitempty"`
	Total   int64  `json:"total,omitempty"`
	// Message is a line of progress text.
	Message string `json:"message,omitempty"`
	// Image is set on the line that reports a finished image.
	Image *ImageSummary `json:"image,omitempty"`
	// Digest is the manifest digest of a pushed or pulled image.
	Digest string `json:"digest,omitempty"`
	// Error ends a failed stream.
	Error *Error `json:"error,omitempty"`
}

// Err returns the error an ImageProgress line carries, with its class, or
// nil.
func (p ImageProgress) Err() error {
	if p.Error == nil {
		return nil
	}
	body, _ := json.Marshal(*p.Error)
	return FromHTTP(http.StatusInternalServerError, body)
}

// Download sends a GET request and copies the raw answer (an archive, for
// instance) to w.
func (c *Client) Download(ctx context.Context, path string, w io.Writer) error {
	resp, err := c.send(ctx, "GET", path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("read answer of GET %s: %w", path, err)
	}
	return nil
}

// AuthRequest asks the daemon to check credentials with a registry, as
// `stack login` does before it stores them.
type AuthRequest struct {
	Server   string `json:"server"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// TagRequest names an image by another name (image tag SRC DST).
type TagRequest struct {
	Source string `json:"source"`
	Target string `json:"target"`
}
