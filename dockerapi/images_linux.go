package dockerapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/daemon"
	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
)

func (s *server) imageRoutes() {
	s.handle("GET /images/json", s.listImages)
	s.raw("POST /images/create", s.pullImage)
	s.raw("GET /images/get", func(w http.ResponseWriter, r *http.Request) error {
		return s.saveImages(w, r, r.URL.Query()["names"])
	})
	s.raw("POST /images/load", s.loadImages)
	s.handle("POST /images/prune", s.pruneImages)
	s.raw("POST /build", s.build)
	// Image names hold slashes (localhost:5000/team/app): the routes
	// under /images/ are told apart by their last element.
	s.raw("GET /images/{rest...}", s.imageGet)
	s.raw("POST /images/{rest...}", s.imagePost)
	s.handle("DELETE /images/{rest...}", s.removeImage)
}

// imageName splits /images/NAME/SUFFIX into NAME and SUFFIX when the
// path ends with one of suffixes.
func imageName(rest string, suffixes ...string) (name, suffix string) {
	for _, sfx := range suffixes {
		if n, ok := strings.CutSuffix(rest, "/"+sfx); ok {
			return n, sfx
		}
	}
	return rest, ""
}

func (s *server) imageGet(w http.ResponseWriter, r *http.Request) error {
	name, suffix := imageName(r.PathValue("rest"), "json", "history", "get")
	switch suffix {
	case "json":
		info, err := s.b.ImageInfo(r.Context(), name)
		if err != nil {
			return noSuchImage(name, err)
		}
		writeJSON(w, http.StatusOK, imageInspect(info))
		return nil
	case "history":
		return s.imageHistory(w, r, name)
	case "get":
		return s.saveImages(w, r, []string{name})
	}
	notFound(w, r)
	return nil
}

func (s *server) imagePost(w http.ResponseWriter, r *http.Request) error {
	name, suffix := imageName(r.PathValue("rest"), "tag", "push")
	switch suffix {
	case "tag":
		repo, tag := r.URL.Query().Get("repo"), r.URL.Query().Get("tag")
		if repo == "" {
			return fmt.Errorf("tag: repo is required: %w", errdefs.ErrInvalidArgument)
		}
		target := repo
		if tag != "" {
			target += ":" + tag
		}
		if err := s.b.TagImage(r.Context(), name, target); err != nil {
			return noSuchImage(name, err)
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	case "push":
		return s.pushImage(w, r, name)
	}
	notFound(w, r)
	return nil
}

// noSuchImage words a missing image as dockerd does, which clients (the
// CLI's run, compose) read to pull it.
func noSuchImage(ref string, err error) error {
	if errors.Is(err, errdefs.ErrNotFound) {
		return fmt.Errorf("No such image: %s: %w", ref, errdefs.ErrNotFound)
	}
	return err
}

func imageSummary(img daemon.ImageInfo) image.Summary {
	s := image.Summary{ID: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Created: img.Created.Unix(),
		Size: img.Size, SharedSize: -1, Labels: img.Labels, Containers: int64(img.Containers)}
	if s.RepoTags == nil {
		s.RepoTags = []string{}
	}
	if s.RepoDigests == nil {
		s.RepoDigests = []string{}
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	return s
}

func imageInspect(img daemon.ImageInfo) image.InspectResponse {
	cfg := &dockerspec.DockerOCIImageConfig{}
	json.Unmarshal(img.Config, cfg)
	out := image.InspectResponse{ID: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests,
		Created: img.Created.UTC().Format(time.RFC3339Nano), Author: img.Author, Config: cfg, Architecture: img.Architecture,
		Variant: img.Variant, Os: img.Os, Size: img.Size, RootFS: image.RootFS{Type: "layers", Layers: img.Layers}}
	if out.RepoTags == nil {
		out.RepoTags = []string{}
	}
	if out.RepoDigests == nil {
		out.RepoDigests = []string{}
	}
	return out
}

// imageFilters are the keys /images/json filters on.
var imageFilters = []string{"dangling", "label", "reference", "before", "since", "until"}

// matchReference matches an image name against a reference filter: a
// name with path.Match wildcards, the tag optional.
func matchReference(pattern string, tags []string) bool {
	for _, t := range tags {
		name, _, _ := strings.Cut(t, "@")
		repo := name
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			repo = name[:i]
		}
		for _, cand := range []string{name, repo} {
			if ok, _ := path.Match(pattern, cand); ok {
				return true
			}
		}
	}
	return false
}

func (s *server) listImages(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return nil, err
	}
	if err := f.check(imageFilters...); err != nil {
		return nil, err
	}
	imgs, err := s.b.ImageList(r.Context())
	if err != nil {
		return nil, err
	}
	created := func(ref string) (time.Time, bool) {
		for _, img := range imgs {
			if img.ID == ref || strings.HasPrefix(strings.TrimPrefix(img.ID, "sha256:"), strings.TrimPrefix(ref, "sha256:")) || slices.Contains(img.RepoTags, ref) {
				return img.Created, true
			}
		}
		return time.Time{}, false
	}
	out := []image.Summary{}
	for _, img := range imgs {
		dangling := strconv.FormatBool(len(img.RepoTags) == 0)
		if !f.is("dangling", dangling) || !f.labels("label", img.Labels) ||
			!f.anyOf("reference", func(v string) bool { return matchReference(v, img.RepoTags) }) ||
			!f.anyOf("before", func(v string) bool { t, ok := created(v); return ok && img.Created.Before(t) }) ||
			!f.anyOf("since", func(v string) bool { t, ok := created(v); return ok && img.Created.After(t) }) ||
			!f.anyOf("until", func(v string) bool { t, err := parseTime(v); return err == nil && img.Created.Before(t) }) {
			continue
		}
		sum := imageSummary(img)
		if refs := f["reference"]; len(refs) > 0 {
			// Only the names that match, as dockerd answers.
			sum.RepoTags = slices.DeleteFunc(sum.RepoTags, func(t string) bool {
				return !slices.ContainsFunc(refs, func(p string) bool { return matchReference(p, []string{t}) })
			})
		}
		if versionBefore(r, "1.51") {
			sum.Containers = -1
		}
		out = append(out, sum)
	}
	return out, nil
}

func (s *server) imageHistory(w http.ResponseWriter, r *http.Request, name string) error {
	h, err := s.b.ImageHistory(r.Context(), name)
	if err != nil {
		return noSuchImage(name, err)
	}
	info, err := s.b.ImageInfo(r.Context(), name)
	if err != nil {
		return noSuchImage(name, err)
	}
	out := []image.HistoryResponseItem{}
	for i, e := range h {
		item := image.HistoryResponseItem{ID: e.ID, Created: e.Created.Unix(), CreatedBy: e.CreatedBy, Size: e.Size, Comment: e.Comment, Tags: []string{}}
		if i == 0 {
			item.Tags = info.RepoTags
		}
		out = append(out, item)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// registryAuth refuses credentials in X-Registry-Auth: the daemon pulls
// and pushes with the credentials of its own docker config
// (root's ~/.docker/config.json), as stack pull does.
func registryAuth(r *http.Request) error {
	h := r.Header.Get("X-Registry-Auth")
	if h == "" {
		return nil
	}
	data, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		data, _ = base64.StdEncoding.DecodeString(h)
	}
	var auth struct {
		Username, Password, IdentityToken, RegistryToken string `json:",omitempty"`
	}
	json.Unmarshal(data, &auth)
	if auth.Username != "" || auth.Password != "" || auth.IdentityToken != "" || auth.RegistryToken != "" {
		return fmt.Errorf("X-Registry-Auth: credentials sent with a request are not supported by stack: log in with the daemon's docker config (root's ~/.docker/config.json): %w", errdefs.ErrNotImplemented)
	}
	return nil
}

// shortLayer is a layer digest as docker's progress shows it.
func shortLayer(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// progressOut turns the daemon's pull and push progress into docker's
// messages.
func progressOut(p api.ImageProgress, push bool) (jsonMessage, bool) {
	var m jsonMessage
	switch {
	case p.Layer != "":
		m.ID = shortLayer(p.Layer)
		switch p.Status {
		case "exists":
			m.Status = "Already exists"
			if push {
				m.Status = "Layer already exists"
			}
		case "done":
			m.Status = "Pull complete"
			if push {
				m.Status = "Pushed"
			}
		default:
			m.Status = "Downloading"
			if push {
				m.Status = "Pushing"
			}
			m.Progress = &jsonstream.Progress{Current: p.Current, Total: p.Total}
		}
	case p.Message != "":
		m.Status = p.Message
	default:
		return m, false
	}
	return m, true
}

func (s *server) pullImage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("fromSrc") != "" {
		return fmt.Errorf("import (fromSrc): not supported by stack's Docker API: use stack image import: %w", errdefs.ErrNotImplemented)
	}
	if p := q.Get("platform"); p != "" && p != "linux" && !strings.HasPrefix(p, "linux/"+goarch()) {
		return fmt.Errorf("pull: platform %s: stack pulls linux/%s only: %w", ident.Quote(p), goarch(), errdefs.ErrNotImplemented)
	}
	if err := registryAuth(r); err != nil {
		return err
	}
	ref := q.Get("fromImage")
	if ref == "" {
		return fmt.Errorf("pull: fromImage is required: %w", errdefs.ErrInvalidArgument)
	}
	if tag := q.Get("tag"); tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	st := newJSONStream(w)
	tag := "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		tag = ref[i+1:]
	}
	st.send(jsonMessage{Message: jsonstream.Message{Status: "Pulling from " + ref, ID: tag}})
	err := s.b.PullImages(r.Context(), []string{ref}, func(p api.ImageProgress) {
		if p.Image != nil {
			st.send(jsonMessage{Message: jsonstream.Message{Status: "Digest: " + p.Digest}})
			st.send(jsonMessage{Message: jsonstream.Message{Status: "Status: Downloaded newer image for " + ref}})
			return
		}
		if m, ok := progressOut(p, false); ok {
			st.send(m)
		}
	})
	if err != nil {
		st.fail(err)
	}
	return nil
}

func (s *server) pushImage(w http.ResponseWriter, r *http.Request, name string) error {
	if err := registryAuth(r); err != nil {
		return err
	}
	ref := name
	if tag := r.URL.Query().Get("tag"); tag != "" {
		ref += ":" + tag
	}
	if _, err := s.b.ImageInfo(r.Context(), ref); err != nil {
		return noSuchImage(ref, err)
	}
	st := newJSONStream(w)
	st.send(jsonMessage{Message: jsonstream.Message{Status: "The push refers to repository [" + name + "]"}})
	err := s.b.PushImage(r.Context(), ref, func(p api.ImageProgress) {
		if p.Digest != "" && p.Layer == "" {
			tag := "latest"
			if t := r.URL.Query().Get("tag"); t != "" {
				tag = t
			}
			st.send(jsonMessage{Message: jsonstream.Message{Status: tag + ": digest: " + p.Digest}})
			aux := json.RawMessage(fmt.Sprintf(`{"Tag":%q,"Digest":%q}`, tag, p.Digest))
			st.send(jsonMessage{Message: jsonstream.Message{Aux: &aux}})
			return
		}
		if m, ok := progressOut(p, true); ok {
			st.send(m)
		}
	})
	if err != nil {
		st.fail(err)
	}
	return nil
}

func (s *server) removeImage(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("rest")
	rep, err := s.b.RemoveImage(r.Context(), name, boolValue(r, "force"))
	if err != nil {
		return nil, noSuchImage(name, err)
	}
	return deleteResponses(rep), nil
}

// familiar shortens a full image name as docker shows it:
// docker.io/library/busybox:latest is busybox:latest.
func familiar(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/")
	return strings.TrimPrefix(ref, "library/")
}

func deleteResponses(rep api.ImageRemoveReport) []image.DeleteResponse {
	out := []image.DeleteResponse{}
	for _, u := range rep.Untagged {
		out = append(out, image.DeleteResponse{Untagged: familiar(u)})
	}
	for _, d := range rep.Deleted {
		out = append(out, image.DeleteResponse{Deleted: d})
	}
	return out
}

func (s *server) pruneImages(w http.ResponseWriter, r *http.Request) (any, error) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return nil, err
	}
	if err := f.check("dangling", "until", "label", "label!"); err != nil {
		return nil, err
	}
	// dangling=false prunes every image no container uses (prune -a).
	all := slices.Contains(f["dangling"], "false") || slices.Contains(f["dangling"], "0")
	until := time.Time{}
	if vals := f["until"]; len(vals) > 0 {
		if until, err = parseTime(vals[0]); err != nil {
			return nil, err
		}
	}
	reps, reclaimed, err := s.b.PruneImages(r.Context(), all, func(img daemon.ImageInfo) bool {
		return (until.IsZero() || img.Created.Before(until)) && f.labels("label", img.Labels) && !negLabels(f["label!"], img.Labels)
	})
	if err != nil && len(reps) == 0 {
		return nil, err
	}
	out := image.PruneReport{ImagesDeleted: []image.DeleteResponse{}, SpaceReclaimed: uint64(reclaimed)}
	for _, rep := range reps {
		out.ImagesDeleted = append(out.ImagesDeleted, deleteResponses(rep)...)
	}
	return out, nil
}

func (s *server) saveImages(w http.ResponseWriter, r *http.Request, refs []string) error {
	if len(refs) == 0 {
		return fmt.Errorf("save: no image named: %w", errdefs.ErrInvalidArgument)
	}
	if p := r.URL.Query().Get("platform"); p != "" {
		return fmt.Errorf("save: platform: not supported by stack: %w", errdefs.ErrNotImplemented)
	}
	for _, ref := range refs {
		if _, err := s.b.ImageInfo(r.Context(), ref); err != nil {
			return noSuchImage(ref, err)
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	if err := s.b.SaveImages(r.Context(), w, refs); err != nil {
		s.log.Warn("save failed", "refs", refs, "err", err)
		panic(http.ErrAbortHandler) // a truncated archive, not a complete one
	}
	return nil
}

func (s *server) loadImages(w http.ResponseWriter, r *http.Request) error {
	imgs, err := s.b.ImportImage(r.Context(), r.Body, "")
	if err != nil {
		return err
	}
	st := newJSONStream(w)
	for _, img := range imgs {
		if len(img.RepoTags) == 0 {
			st.send(jsonMessage{Message: jsonstream.Message{Stream: "Loaded image ID: " + img.ID + "\n"}})
		}
		for _, t := range img.RepoTags {
			st.send(jsonMessage{Message: jsonstream.Message{Stream: "Loaded image: " + t + "\n"}})
		}
	}
	return nil
}

// buildParams are the query parameters of /build that stack implements;
// any other that is set is refused by name.
var buildParams = map[string]bool{
	"t": true, "dockerfile": true, "buildargs": true, "labels": true, "target": true, "nocache": true,
	"q": true, "rm": true, "forcerm": true, "version": true, "networkmode": true, "platform": true, "pull": true,
}

func (s *server) build(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var unknown []string
	for k, v := range q {
		if !buildParams[k] && len(v) > 0 && v[0] != "" && v[0] != "0" && v[0] != "false" && v[0] != "{}" && v[0] != "[]" && v[0] != "null" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("build: %s: not supported by stack (README: what the Docker API covers): %w", strings.Join(unknown, ", "), errdefs.ErrNotImplemented)
	}
	if v := q.Get("version"); v == "2" {
		return fmt.Errorf("build: BuildKit (version=2) is not supported by stack: use the classic builder (DOCKER_BUILDKIT=0): %w", errdefs.ErrNotImplemented)
	}
	if m := q.Get("networkmode"); m != "" && m != "default" && m != "bridge" {
		return fmt.Errorf("build: networkmode %s: stack runs RUN steps on a network of their own: %w", ident.Quote(m), errdefs.ErrNotImplemented)
	}
	if p := q.Get("platform"); p != "" && p != "linux" && !strings.HasPrefix(p, "linux/"+goarch()) {
		return fmt.Errorf("build: platform %s: stack builds linux/%s only: %w", ident.Quote(p), goarch(), errdefs.ErrNotImplemented)
	}
	if boolValue(r, "pull") {
		return fmt.Errorf("build: pull: not supported by stack: pull the base image first: %w", errdefs.ErrNotImplemented)
	}
	req := api.BuildRequest{Dockerfile: q.Get("dockerfile"), Target: q.Get("target"), Tags: q["t"], NoCache: boolValue(r, "nocache")}
	if a := q.Get("buildargs"); a != "" {
		if err := json.Unmarshal([]byte(a), &req.Args); err != nil {
			return fmt.Errorf("build: buildargs: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	if l := q.Get("labels"); l != "" {
		if err := json.Unmarshal([]byte(l), &req.Labels); err != nil {
			return fmt.Errorf("build: labels: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	quiet := boolValue(r, "q")
	st := newJSONStream(w)
	say := func(text string) {
		if !quiet {
			st.send(jsonMessage{Message: jsonstream.Message{Stream: text}})
		}
	}
	res, err := s.b.BuildContext(r.Context(), r.Body, req, func(e api.BuildEvent) {
		switch e.Kind {
		case "start":
			say(fmt.Sprintf("Step %d/%d : %s\n", e.Step, e.Total, e.Instruction))
		case "output":
			say(e.Output)
		case "done":
			if e.Cached {
				say(" ---> Using cache\n")
			}
		}
	})
	if err != nil {
		st.fail(err)
		return nil
	}
	id := ""
	if res.Image != nil {
		id = res.Image.ID
	}
	aux := json.RawMessage(fmt.Sprintf(`{"ID":%q}`, id))
	st.send(jsonMessage{Message: jsonstream.Message{Aux: &aux}})
	if quiet {
		st.send(jsonMessage{Message: jsonstream.Message{Stream: id + "\n"}})
		return nil
	}
	say("Successfully built " + shortLayer(id) + "\n")
	for _, t := range req.Tags {
		say("Successfully tagged " + t + "\n")
	}
	return nil
}
