//go:build !stackdaemon

package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
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
