package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/archive"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
	"github.com/stack-dev/stack/runtime"
)

// copyRoutes are `stack cp`'s: GET packs a path of a service's container
// as a tar stream, PUT unpacks one there.
func (d *Daemon) copyRoutes(mux *routeMux, v string) {
	mux.HandleFunc("GET "+v+"/projects/{name}/archive", func(w http.ResponseWriter, r *http.Request) {
		root, t, err := d.copyRoot(r)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		src, err := securejoin.SecureJoin(root, t.Path)
		if err == nil {
			stat := os.Lstat
			if t.FollowLink {
				stat = os.Stat
			}
			_, err = stat(src)
		}
		if err != nil {
			api.WriteError(w, copyPathError(t, err))
			return
		}
		w.Header().Set("Content-Type", "application/x-tar")
		name := path.Base(path.Clean("/" + t.Path))
		if name == "/" {
			name = "."
		}
		if err := archive.Tar(w, src, name, t.FollowLink); err != nil {
			d.log.Warn("copy from container", "path", t.Path, "err", err)
		}
	})
	mux.HandleFunc("PUT "+v+"/projects/{name}/archive", func(w http.ResponseWriter, r *http.Request) {
		root, t, err := d.copyRoot(r)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		dst, err := securejoin.SecureJoin(root, t.Path)
		if err != nil {
			api.WriteError(w, copyPathError(t, err))
			return
		}
		o := archive.Options{KeepOwner: t.KeepOwner}
		dir := dst
		if fi, err := os.Stat(dst); err != nil || !fi.IsDir() {
			// Not a directory: the copy takes its name.
			dir, o.Rename = filepath.Dir(dst), filepath.Base(dst)
			if _, err := os.Stat(dir); err != nil {
				api.WriteError(w, copyPathError(api.CopyTarget{Service: t.Service, Path: path.Dir(t.Path)}, err))
				return
			}
		}
		if err := archive.Untar(r.Body, dir, o); err != nil {
			api.WriteError(w, fmt.Errorf("copy to %s:%s: %w", t.Service, t.Path, err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// copyRoot finds the container a copy request names and the directory
// its filesystem is seen through: /proc/PID/root of its init while it
// runs, so its volumes and bind mounts are there as it sees them, or its
// root filesystem when it does not.
func (d *Daemon) copyRoot(r *http.Request) (string, api.CopyTarget, error) {
	q := r.URL.Query()
	t := api.CopyTarget{Service: q.Get("service"), Path: q.Get("path"), FollowLink: q.Get("follow_link") == "true", KeepOwner: q.Get("keep_owner") == "true"}
	if n := q.Get("index"); n != "" {
		i, err := strconv.Atoi(n)
		if err != nil || i < 0 {
			return "", t, fmt.Errorf("index %s: %w", ident.Quote(n), errdefs.ErrInvalidArgument)
		}
		t.Index = i
	}
	if !path.IsAbs(t.Path) {
		return "", t, fmt.Errorf("path %s: want an absolute path in the container: %w", ident.Quote(t.Path), errdefs.ErrInvalidArgument)
	}
	_, rt, err := d.engines()
	if err != nil {
		return "", t, err
	}
	rec, err := d.copySource(r.PathValue("name"), t)
	if err != nil {
		return "", t, err
	}
	if st, err := rt.State(rec.ID); err == nil && st.Status == runtime.Running && st.Pid > 0 {
		return fmt.Sprintf("/proc/%d/root", st.Pid), t, nil
	}
	return rec.Rootfs, t, nil
}

// copySource is the container of a copy: the replica asked for, else the
// first running one, else the first there is (cp works on stopped
// containers too, as docker's).
func (d *Daemon) copySource(project string, t api.CopyTarget) (*record, error) {
	if rec, err := d.execTarget(project, t.Service, t.Index); err == nil {
		return rec, nil
	} else if errors.Is(err, errdefs.ErrNotFound) {
		return nil, err
	}
	recs, err := d.records(project)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Service == t.Service && !r.OneOff && (t.Index == 0 || r.Number == t.Index) {
			return r, nil
		}
	}
	return nil, fmt.Errorf("service %s has no container number %d: %w", ident.Quote(t.Service), t.Index, errdefs.ErrNotFound)
}

func copyPathError(t api.CopyTarget, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("could not find the file %s in container of service %s: %w", t.Path, t.Service, errdefs.ErrNotFound)
	}
	return fmt.Errorf("%s:%s: %w", t.Service, t.Path, err)
}
