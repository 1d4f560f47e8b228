package dockerapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/moby/moby/api/types/volume"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/daemon"
	"github.com/stack-dev/stack/internal/errdefs"
)

func (s *server) volumeRoutes() {
	s.handle("GET /volumes", s.listVolumes)
	s.raw("POST /volumes/create", s.createVolume)
	s.handle("GET /volumes/{name}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		v, err := s.b.InspectVolume(r.Context(), r.PathValue("name"))
		if err != nil {
			return nil, err
		}
		return volumeOut(v), nil
	})
	s.handle("DELETE /volumes/{name}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		err := s.b.RemoveVolume(r.Context(), r.PathValue("name"))
		if boolValue(r, "force") && errors.Is(err, errdefs.ErrNotFound) {
			err = nil
		}
		return nil, err
	})
	s.handle("POST /volumes/prune", s.pruneVolumes)
}

func volumeOut(v api.Volume) volume.Volume {
	out := volume.Volume{Name: v.Name, Driver: "local", Mountpoint: v.Mountpoint, Labels: v.Labels, Scope: "local", Options: map[string]string{}}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if !v.Created.IsZero() {
		out.CreatedAt = v.Created.UTC().Format(time.RFC3339)
	}
	return out
}

// volumeFilters are the keys /volumes filters on.
var volumeFilters = []string{"name", "label", "dangling", "driver"}

func (s *server) listVolumes(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return nil, err
	}
	if err := f.check(volumeFilters...); err != nil {
		return nil, err
	}
	vols, err := s.b.Volumes(r.Context())
	if err != nil {
		return nil, err
	}
	out := volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}}
	for _, v := range vols {
		if !f.anyOf("name", func(p string) bool { return strings.Contains(v.Name, p) }) || !f.labels("label", v.Labels) ||
			!f.is("driver", "local") ||
			!f.anyOf("dangling", func(p string) bool { return (p == "true" || p == "1") == (len(v.UsedBy) == 0) }) {
			continue
		}
		out.Volumes = append(out.Volumes, volumeOut(v))
	}
	return out, nil
}

// volumeCreateFields are the fields of a volume create request stack
// implements.
var volumeCreateFields = map[string]fieldRule{"Name": nil, "Driver": equals("local"), "Labels": nil}

func (s *server) createVolume(w http.ResponseWriter, r *http.Request) error {
	var req volume.CreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkFields("create volume", req, volumeCreateFields); err != nil {
		return err
	}
	v, err := s.b.CreateVolume(r.Context(), daemon.VolumeCreate{Name: req.Name, Labels: req.Labels})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, volumeOut(v))
	return nil
}

func (s *server) pruneVolumes(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return nil, err
	}
	if err := f.check("all", "label", "label!"); err != nil {
		return nil, err
	}
	// Before 1.42 a prune took named volumes too.
	all := versionBefore(r, "1.42") || f.anyOf("all", func(v string) bool { return v == "true" || v == "1" }) && len(f["all"]) > 0
	removed, reclaimed, err := s.b.PruneVolumes(r.Context(), all, func(v api.Volume) bool {
		return f.labels("label", v.Labels) && !negLabels(f["label!"], v.Labels)
	})
	if err != nil && len(removed) == 0 {
		return nil, err
	}
	if removed == nil {
		removed = []string{}
	}
	return volume.PruneReport{VolumesDeleted: removed, SpaceReclaimed: uint64(reclaimed)}, nil
}
