package spec_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stack-dev/stack/spec"
)

// TestUnsetVariableWarning: a plain $VAR or ${VAR} that is not set warns
// in compose's words, once per variable; the forms with an operator say
// what to do and do not warn.
func TestUnsetVariableWarning(t *testing.T) {
	p, err := load(t, "services:\n  web:\n    image: busybox\n    ports: [\"127.0.0.1:${HTTP_PORT}:80\"]\n    environment:\n      A: $HTTP_PORT\n      B: ${OTHER:-x}${SET}\n      C: ${ALT:+y}\n", "SET=1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`The "HTTP_PORT" variable is not set. Defaulting to a blank string.`}
	if strings.Join(p.Warnings, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings %q, want %q", p.Warnings, want)
	}
}

// TestEmptyCommandSurvivesJSON: entrypoint: [] and command: "" are not
// "unset", in the model, after the JSON trip to the daemon, and in YAML.
func TestEmptyCommandSurvivesJSON(t *testing.T) {
	p, err := load(t, "services:\n  a:\n    image: x\n    entrypoint: []\n    command: \"\"\n  b:\n    image: x\n")
	if err != nil {
		t.Fatal(err)
	}
	data, err := spec.RenderJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := spec.DecodeJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		svc   string
		empty bool
	}{{"a", true}, {"b", false}} {
		s := q.Services[c.svc]
		if (s.Entrypoint != nil) != c.empty || (s.Command != nil) != c.empty || len(s.Entrypoint)+len(s.Command) != 0 {
			t.Errorf("%s: entrypoint %#v, command %#v after JSON", c.svc, s.Entrypoint, s.Command)
		}
	}
	y, _ := spec.RenderYAML(q)
	if !strings.Contains(string(y), "entrypoint: []") || !strings.Contains(string(y), "command: []") {
		t.Errorf("YAML lost the empty values:\n%s", y)
	}
}

// TestSecretValueNotPrinted: an environment secret's value goes to the
// daemon in the project's JSON, and never into what config prints.
func TestSecretValueNotPrinted(t *testing.T) {
	p, err := load(t, "services:\n  a:\n    image: x\n    secrets: [pw]\nsecrets:\n  pw: {environment: DB_PW}\n", "DB_PW=hunter2")
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := spec.RenderJSON(p)
	var back struct {
		Secrets map[string]spec.FileObj `json:"secrets"`
	}
	if err := json.Unmarshal(wire, &back); err != nil || back.Secrets["pw"].Value == nil || *back.Secrets["pw"].Value != "hunter2" {
		t.Errorf("the daemon would not get the value: %s", wire)
	}
	shown, _ := spec.RenderJSON(p.Redacted())
	y, _ := spec.RenderYAML(p)
	for _, out := range [][]byte{shown, y} {
		if strings.Contains(string(out), "hunter2") {
			t.Errorf("a printed project holds the secret:\n%s", out)
		}
	}
	if p.Secrets["pw"].Value == nil {
		t.Error("Redacted changed the project itself")
	}
}

// TestExternalSecretRefused: external secrets need a Swarm.
func TestExternalSecretRefused(t *testing.T) {
	_, err := load(t, "services:\n  a:\n    image: x\n    secrets: [pw]\nsecrets:\n  pw: {external: true}\n")
	if err == nil || !strings.Contains(err.Error(), "Docker Swarm") {
		t.Errorf("err = %v", err)
	}
}

// TestBuildPull: when a build pulls its FROM images, by compose's rules.
func TestBuildPull(t *testing.T) {
	for _, c := range []struct {
		svc  spec.Service
		want string
	}{
		{spec.Service{Build: &spec.Build{}}, "missing"},
		{spec.Service{Build: &spec.Build{Pull: true}}, "always"},
		{spec.Service{Build: &spec.Build{}, PullPolicy: "always"}, "always"},
		{spec.Service{Build: &spec.Build{}, PullPolicy: "never"}, "never"},
		{spec.Service{Build: &spec.Build{}, PullPolicy: "build"}, "missing"},
	} {
		if got := c.svc.BuildPull(); got != c.want {
			t.Errorf("%+v: %s, want %s", c.svc, got, c.want)
		}
	}
}

// TestAttachFalse: a service's attach: false is kept, without a warning,
// through the JSON trip to the daemon; a foreground up reads it.
func TestAttachFalse(t *testing.T) {
	p, err := load(t, "services:\n  a:\n    image: x\n    attach: false\n  b:\n    image: x\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings: %q", p.Warnings)
	}
	data, err := spec.RenderJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := spec.DecodeJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if a := q.Services["a"].Attach; a == nil || *a {
		t.Errorf("a's attach after JSON: %v", a)
	}
	if b := q.Services["b"].Attach; b != nil {
		t.Errorf("b's attach: %v, want unset", *b)
	}
}
