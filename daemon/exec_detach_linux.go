package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/stack-dev/stack/api"
)

// execDetached starts the exec id that nobody attaches to (exec -d): its
// output is dropped, as docker's, and the answer comes once it runs.
func (d *Daemon) execDetached(w http.ResponseWriter, r *http.Request, rec *record, id string) error {
	started := make(chan error, 1)
	go func() {
		_, err := d.StartExec(context.WithoutCancel(r.Context()), id, ExecIO{Started: func() { started <- nil }})
		started <- err // unread once Started was called
	}()
	if err := <-started; err != nil {
		return namedError(err, rec)
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(api.ExecResult{Container: rec.Name})
}

// namedError shows a runtime error with the container's name where the
// runtime, which knows containers by id only, put its id; the class
// stays.
func namedError(err error, rec *record) error {
	msg := err.Error()
	named := strings.ReplaceAll(msg, strconv.Quote(rec.ID), rec.Name)
	named = strings.ReplaceAll(named, rec.ID, rec.Name)
	if named == msg {
		return err
	}
	return &renamedError{msg: named, err: err}
}

type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }
