package daemon

import (
	"context"
	"net/http"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/image/registry"
)

// composeRoutes adds the routes of rm, wait, the foreground attach of up,
// login's check and image tag.
//
//	POST /projects/{name}/rm      api.RemoveRequest -> RemoveResult
//	POST /projects/{name}/wait    api.WaitRequest   -> NDJSON api.Exit..., then api.WaitResult
//	POST /projects/{name}/attach  api.AttachRequest -> NDJSON api.AttachEvent...
//	POST /auth                    api.AuthRequest   -> 204, or the registry's refusal
//	POST /images/tag              api.TagRequest    -> 204
func (d *Daemon) composeRoutes(mux *routeMux, handle func(string, func(http.ResponseWriter, *http.Request) (any, error)), v string) {
	handle("POST "+v+"/projects/{name}/rm", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.RemoveRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		return d.Remove(context.WithoutCancel(r.Context()), r.PathValue("name"), req, func(api.Event) {})
	})
	mux.HandleFunc("POST "+v+"/projects/{name}/wait", func(w http.ResponseWriter, r *http.Request) {
		var req api.WaitRequest
		if err := decodeJSON(r, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		stream(w, func(send func(any) error) error {
			res, err := d.Wait(r.Context(), r.PathValue("name"), req, func(e api.Exit) { send(e) })
			if err != nil {
				return err
			}
			return send(res)
		})
	})
	mux.HandleFunc("POST "+v+"/projects/{name}/attach", func(w http.ResponseWriter, r *http.Request) {
		var req api.AttachRequest
		if err := decodeJSON(r, &req); err != nil {
			api.WriteError(w, err)
			return
		}
		stream(w, func(send func(any) error) error {
			return d.Attach(r.Context(), r.PathValue("name"), req, func(e api.AttachEvent) error { return send(e) })
		})
	})
	handle("POST "+v+"/auth", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.AuthRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		return nil, registry.CheckLogin(r.Context(), req.Server, req.Username, req.Password, registry.Options{Insecure: d.cfg.InsecureRegistries})
	})
	handle("POST "+v+"/images/tag", func(w http.ResponseWriter, r *http.Request) (any, error) {
		var req api.TagRequest
		if err := decodeJSON(r, &req); err != nil {
			return nil, err
		}
		return nil, d.images.Tag(r.Context(), req.Source, req.Target)
	})
}
