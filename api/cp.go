package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// CopyTarget names the file or directory in a service's container that
// `stack cp` copies from or to.
type CopyTarget struct {
	Service string
	// Index is the replica (1-based); 0 is the first running one.
	Index int
	// Path is absolute, in the container.
	Path string
	// FollowLink follows a symbolic link at Path (cp -L).
	FollowLink bool
	// KeepOwner keeps the owners the archive names (cp -a).
	KeepOwner bool
}

func (t CopyTarget) query() string {
	v := url.Values{"service": {t.Service}, "path": {t.Path}}
	if t.Index > 0 {
		v.Set("index", strconv.Itoa(t.Index))
	}
	if t.FollowLink {
		v.Set("follow_link", "true")
	}
	if t.KeepOwner {
		v.Set("keep_owner", "true")
	}
	return "?" + v.Encode()
}

// CopyFrom returns a tar stream of t.Path, whose top entry is named after
// it; the caller closes it.
func (c *Client) CopyFrom(ctx context.Context, project string, t CopyTarget) (io.ReadCloser, error) {
	resp, err := c.send(ctx, "GET", "/projects/"+project+"/archive"+t.query(), nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// CopyTo unpacks the tar stream r at t.Path: into it when it is a
// directory of the container, otherwise as it, the stream's top entry
// renamed.
func (c *Client) CopyTo(ctx context.Context, project string, t CopyTarget, r io.Reader) error {
	resp, err := c.send(ctx, "PUT", "/projects/"+project+"/archive"+t.query(), r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("copy to %s:%s: status %d", t.Service, t.Path, resp.StatusCode)
	}
	return nil
}
