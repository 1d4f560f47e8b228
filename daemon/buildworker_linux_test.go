//go:build !stackdaemon

package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/errdefs"
)

// TestBuildWorkerRefusesAnotherProtocol: a worker of another build than
// its daemon's answers with an error that says what to do, and builds
// nothing.
func TestBuildWorkerRefusesAnotherProtocol(t *testing.T) {
	for name, first := range map[string]string{
		"older daemon": `{"start":{"protocol":0}}`,
		"newer daemon": `{"start":{"protocol":99}}`,
		"no start":     `{"seq":1,"done":true}`,
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := serveBuild(strings.NewReader(first+"\n"), &out); err != nil {
				t.Fatal(err)
			}
			var m workerMsg
			if err := json.Unmarshal(out.Bytes(), &m); err != nil {
				t.Fatalf("answer %q: %v", out.String(), err)
			}
			err := api.ParseErrorFrame(m.Error)
			if m.Done != nil || !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "restart the daemon") {
				t.Fatalf("answer %q, want a failed precondition saying to restart the daemon", out.String())
			}
		})
	}
}

// TestBuildWorkerDropsAnAbandonedStep: once a step's request is given up
// (the build was cancelled), what the daemon still sends for it reaches
// nobody, and the worker keeps no record of it.
func TestBuildWorkerDropsAnAbandonedStep(t *testing.T) {
	fromDaemon, daemonEnd := io.Pipe()
	w := &buildWorker{enc: json.NewEncoder(io.Discard), pending: map[int]*pendingStep{}}
	finished := make(chan struct{})
	go w.readAnswers(json.NewDecoder(fromDaemon), func() { close(finished) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if _, err := w.request(ctx, workerMsg{Run: &buildStep{}}, &out); !errors.Is(err, context.Canceled) {
		t.Fatalf("request = %v, want context.Canceled", err)
	}
	io.WriteString(daemonEnd, `{"seq":1,"output":"late\n"}`+"\n")
	daemonEnd.Close()
	<-finished
	if out.Len() != 0 {
		t.Errorf("an abandoned step's writer got %q", out.String())
	}
	if len(w.pending) != 0 {
		t.Errorf("pending requests after the answers: %v", w.pending)
	}
}
