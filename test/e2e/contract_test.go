package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The Compose contract (issue 13): what other people's stack files and
// images rely on, each on real containers.

func (e *env) writeFile(name, content string, mode os.FileMode) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) execOut(service string, cmd ...string) string {
	e.t.Helper()
	return strings.TrimSpace(e.mustRun(append([]string{"exec", "-T", service}, cmd...)...))
}

// TestRootSecretsAndConfigs: a MYSQL_PASSWORD_FILE-style service reads
// /run/secrets/NAME with the content, owner and mode asked for; a secret
// from the environment and configs (inline at a custom target, and a
// file at its default /NAME) are there too, read-only, and the values
// are in no log, ps output or record.
func TestRootSecretsAndConfigs(t *testing.T) {
	e := newEnv(t)
	e.writeFile("db_password.txt", "s3cr3t-pw\n", 0o600)
	e.writeFile("nginx.conf", "worker_processes 1;\n", 0o644)
	e.vars = append(e.vars, "API_TOKEN=tok-from-the-shell")
	e.writeStack(`services:
  db:
    image: busybox
    environment:
      MYSQL_PASSWORD_FILE: /run/secrets/db_password
    command: [sh, -c, 'stat -c "%u:%g %a" $$MYSQL_PASSWORD_FILE; exec sleep 3600']
    secrets:
      - source: db_password
        uid: "999"
        gid: "998"
        mode: 0440
      - source: api_token
        target: token
    configs:
      - source: app
        target: /etc/app/app.conf
        mode: 0400
      - nginx
secrets:
  db_password: {file: ./db_password.txt}
  api_token: {environment: API_TOKEN}
configs:
  app: {content: "listen=8080"}
  nginx: {file: ./nginx.conf}
`)
	e.mustRun("up", "-d")
	if got := e.execOut("db", "cat", "/run/secrets/db_password"); got != "s3cr3t-pw" {
		t.Errorf("db_password = %q", got)
	}
	waitLogs(e, "db", "999:998 440")
	if got := e.execOut("db", "stat", "-c", "%u:%g %a", "/run/secrets/token"); got != "0:0 444" {
		t.Errorf("token owner and mode %q, want compose's default 0:0 444", got)
	}
	if got := e.execOut("db", "sh", "-c", "cat /run/secrets/token | sha256sum"); !strings.HasPrefix(got, sha256hex("tok-from-the-shell")) {
		t.Errorf("token's sha256 %q", got)
	}
	if got := e.execOut("db", "cat", "/etc/app/app.conf"); got != "listen=8080" {
		t.Errorf("config at its target: %q", got)
	}
	if got := e.execOut("db", "stat", "-c", "%a", "/etc/app/app.conf"); got != "400" {
		t.Errorf("config mode %q", got)
	}
	if got := e.execOut("db", "cat", "/nginx"); got != "worker_processes 1;" {
		t.Errorf("file config at /nginx: %q", got)
	}
	if code, _, _ := e.run("exec", "-T", "db", "sh", "-c", "echo x > /run/secrets/db_password"); code == 0 {
		t.Error("the secret is writable")
	}
	if code, _, _ := e.run("exec", "-T", "db", "test", "-d", "/run/secrets/db_password"); code == 0 {
		t.Error("the secret is a directory")
	}
	// Kept out of what stack shows and keeps.
	described, _ := json.Marshal(e.psAll()) // what the API says of the containers: env, mounts, labels
	shown := e.mustRun("ps", "-a", "--format", "json") + e.mustRun("logs", "db") + e.mustRun("config", "--format", "json") + string(described)
	records, _ := filepath.Glob(filepath.Join(e.root, "projects", "*", "*.json"))
	for _, f := range append(records, filepath.Join(e.root, "daemon.log")) {
		data, _ := os.ReadFile(f)
		shown += string(data)
	}
	for _, v := range []string{"s3cr3t-pw", "tok-from-the-shell"} {
		if strings.Contains(shown, v) {
			t.Errorf("%q shows in ps, logs, config or the state root's records", v)
		}
	}
	// external: no Swarm.
	e.mustRun("down", "-t", "1")
	e.writeStack("services:\n  a:\n    image: busybox\n    secrets: [x]\nsecrets:\n  x: {external: true}\n")
	if code, _, errOut := e.run("up", "-d"); code == 0 || !strings.Contains(errOut, "Docker Swarm") {
		t.Errorf("external secret: exit %d, %s", code, errOut)
	}
	e.writeStack("services: {}\n")
}

func sha256hex(s string) string {
	out, _ := exec.Command("sh", "-c", "printf %s '"+s+"' | sha256sum").Output()
	return strings.Fields(string(out))[0]
}

// TestRootAnonymousVolumes: an image's VOLUME and a stack file's "- /cache"
// get anonymous volumes, filled from the image; their data survives up
// --force-recreate, is gone after up -V, and rm -v and down -v remove
// them.
func TestRootAnonymousVolumes(t *testing.T) {
	e := newEnv(t)
	e.writeFile("app/Dockerfile", "FROM busybox\nRUN mkdir -p /data /cache && echo seed > /data/seed && echo cached > /cache/c\nVOLUME /data\nCMD [\"sleep\", \"3600\"]\n", 0o644)
	e.writeStack("services:\n  app:\n    build: ./app\n    volumes: [/cache]\n")
	e.mustRun("up", "-d")
	if got := e.execOut("app", "cat", "/data/seed", "/cache/c"); got != "seed\ncached" {
		t.Errorf("anonymous volumes not filled from the image: %q", got)
	}
	e.execOut("app", "sh", "-c", "echo kept > /data/x && echo kept > /cache/y")
	first := e.ps()["app"].ID
	e.mustRun("up", "-d", "--force-recreate")
	if id := e.ps()["app"].ID; id == first {
		t.Fatal("--force-recreate did not recreate")
	}
	if got := e.execOut("app", "cat", "/data/x", "/cache/y"); got != "kept\nkept" {
		t.Errorf("after --force-recreate: %q, want the data kept", got)
	}
	vols := func() []string {
		v, _ := filepath.Glob(filepath.Join(e.root, "volumes", e.project+"_app_anon_*"))
		return v
	}
	before := vols()
	e.mustRun("up", "-d", "--force-recreate", "-V")
	if code, out, _ := e.run("exec", "-T", "app", "cat", "/data/x"); code == 0 {
		t.Errorf("after -V the old data is still there: %q", out)
	}
	if got := e.execOut("app", "cat", "/data/seed"); got != "seed" {
		t.Errorf("the renewed volume is not filled from the image: %q", got)
	}
	if after := vols(); len(after) != len(before) || after[0] == before[0] && after[1] == before[1] {
		t.Errorf("-V: volumes %v, before %v", after, before)
	}
	e.mustRun("rm", "-f", "-s", "-v", "app")
	if v := vols(); len(v) != 0 {
		t.Errorf("rm -v left %v", v)
	}
	e.mustRun("up", "-d")
	if len(vols()) != 2 {
		t.Errorf("up made %v", vols())
	}
	e.mustRun("down", "-v", "-t", "1")
	if v := vols(); len(v) != 0 {
		t.Errorf("down -v left %v", v)
	}
}

// TestRootEmptyEntrypoint: entrypoint: [] discards the image's
// ENTRYPOINT and runs the command alone.
func TestRootEmptyEntrypoint(t *testing.T) {
	e := newEnv(t)
	e.writeFile("app/Dockerfile", "FROM busybox\nENTRYPOINT [\"echo\", \"from-the-image-entrypoint\"]\n", 0o644)
	e.writeStack("services:\n  app:\n    build: ./app\n    entrypoint: []\n    command: [sh, -c, 'echo the-command-alone; sleep 3600']\n")
	e.mustRun("up", "-d")
	logs := waitLogs(e, "app", "the-command-alone")
	if strings.Contains(logs, "from-the-image-entrypoint") {
		t.Errorf("the image's entrypoint ran: %q", logs)
	}
	if cmd := e.ps()["app"].Command; len(cmd) == 0 || cmd[0] != "sh" {
		t.Errorf("command %q, want sh first", cmd)
	}
}

// TestRootOneOffs: a run -d one-off has no service alias in DNS, is not
// restarted by restart, does not fail a dependency wait when it exited,
// is not started by start, and rm removes it.
func TestRootOneOffs(t *testing.T) {
	e := newEnv(t)
	e.writeStack(`services:
  db:
    image: busybox
    command: [sh, -c, 'touch /tmp/ok; exec sleep 3600']
    healthcheck: {test: [CMD, test, -f, /tmp/ok], interval: 1s, retries: 30}
  web:
    image: busybox
    command: [sleep, "3600"]
    depends_on: {db: {condition: service_healthy}}
`)
	e.mustRun("up", "-d")
	oneOff := strings.TrimSpace(e.mustRun("run", "-d", "db", "sleep", "3600"))
	ips := map[string]string{}
	for _, c := range e.psAll() {
		for _, ip := range c.Networks {
			ips[c.Name] = ip
		}
	}
	if ips[oneOff] == "" || ips[e.project+"-db-1"] == "" {
		t.Fatalf("addresses %v", ips)
	}
	look := e.execOut("web", "nslookup", "db")
	if strings.Contains(look, ips[oneOff]) || !strings.Contains(look, ips[e.project+"-db-1"]) {
		t.Errorf("db resolves to %q; the one-off is %s, the service's container %s", look, ips[oneOff], ips[e.project+"-db-1"])
	}
	if look := e.execOut("web", "nslookup", oneOff); !strings.Contains(look, ips[oneOff]) {
		t.Errorf("the one-off does not answer to its own name: %q", look)
	}
	aliased := strings.TrimSpace(e.mustRun("run", "-d", "--use-aliases", "db", "sleep", "3600"))
	for _, c := range e.psAll() {
		for _, ip := range c.Networks {
			ips[c.Name] = ip
		}
	}
	if look := e.execOut("web", "nslookup", "db"); !strings.Contains(look, ips[aliased]) {
		t.Errorf("run --use-aliases: db resolves to %q, not to the one-off's %s", look, ips[aliased])
	}
	// An exited one-off.
	exited := strings.TrimSpace(e.mustRun("run", "-d", "db", "sh", "-c", "exit 3"))
	waitState := func(name, state string) {
		for i := 0; i < 100; i++ {
			for _, c := range e.psAll() {
				if c.Name == name && c.State == state {
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s never became %s: %+v", name, state, e.psAll())
	}
	waitState(exited, "exited")
	e.mustRun("restart", "-t", "1", "db")
	e.mustRun("stop", "-t", "1")
	e.mustRun("start")
	waitState(exited, "exited")
	for _, c := range e.psAll() {
		if c.Name == oneOff && c.State != "running" {
			t.Errorf("stop took the running one-off down: %s", c.State)
		}
	}
	if code, out, errOut := e.run("up", "-d", "--force-recreate"); code != 0 {
		t.Fatalf("up --force-recreate with an exited one-off: exit %d\n%s%s", code, out, errOut)
	}
	e.mustRun("kill", "db")
	waitState(oneOff, "exited")
	waitState(aliased, "exited")
	out := e.mustRun("rm", "-f")
	for _, name := range []string{oneOff, aliased, exited, e.project + "-db-1"} {
		if !strings.Contains(out, name) {
			t.Errorf("rm did not remove %s:\n%s", name, out)
		}
	}
	for _, c := range e.psAll() {
		if c.Name == oneOff || c.Name == aliased || c.Name == exited {
			t.Errorf("%s still there after rm", c.Name)
		}
		if c.Service == "web" && c.State != "running" {
			t.Errorf("rm touched running web: %s", c.State)
		}
	}
	if _, _, errOut := e.run("rm", "-f"); !strings.Contains(errOut, "No stopped containers") {
		t.Errorf("a second rm: %q", errOut)
	}
}

// TestRootStartWaitsForHealthy: start brings a stopped stack back in
// dependency order, web only once db is healthy.
func TestRootStartWaitsForHealthy(t *testing.T) {
	e := newEnv(t)
	e.writeStack(`services:
  db:
    image: busybox
    command: [sh, -c, 'rm -f /tmp/ok; sleep 1; touch /tmp/ok; exec sleep 3600']
    healthcheck: {test: [CMD, test, -f, /tmp/ok], interval: 200ms, retries: 100}
  web:
    image: busybox
    command: [sleep, "3600"]
    depends_on: {db: {condition: service_healthy}}
`)
	e.mustRun("up", "-d")
	e.mustRun("stop", "-t", "1")
	code, out, errOut := e.run("start")
	if code != 0 {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	all := out + errOut
	dbStart, healthy, webStart := strings.Index(all, e.project+"-db-1  Started"), strings.Index(all, e.project+"-db-1  Healthy"), strings.Index(all, e.project+"-web-1  Started")
	if dbStart < 0 || healthy < dbStart || webStart < healthy {
		t.Errorf("want db started, db healthy, then web started:\n%s", all)
	}
	if h := e.ps()["db"].Health; h != "healthy" {
		t.Errorf("db is %q once start returned", h)
	}
	// --force-recreate web recreates web only; --always-recreate-deps
	// its dependency too.
	ids := func() (string, string) { ps := e.ps(); return ps["db"].ID, ps["web"].ID }
	db0, web0 := ids()
	e.mustRun("up", "-d", "-t", "1", "--force-recreate", "web")
	db1, web1 := ids()
	if db1 != db0 || web1 == web0 {
		t.Errorf("--force-recreate web: db %s -> %s, web %s -> %s; want web only", db0, db1, web0, web1)
	}
	e.mustRun("up", "-d", "-t", "1", "--force-recreate", "--always-recreate-deps", "web")
	if db2, web2 := ids(); db2 == db1 || web2 == web1 {
		t.Errorf("--always-recreate-deps: db %s -> %s, web %s -> %s; want both", db1, db2, web1, web2)
	}
}

// TestRootUpExitCodeFrom: up --exit-code-from tests runs the suite in the
// foreground, prints compose's exit line, stops the rest and returns the
// tests' exit code; a plain foreground up returns once everything exited.
func TestRootUpExitCodeFrom(t *testing.T) {
	e := newEnv(t)
	e.writeStack(`services:
  server:
    image: busybox
    command: [sh, -c, 'echo server-up; exec sleep 3600']
  noisy:
    image: busybox
    command: [sh, -c, 'echo noisy-line; exec sleep 3600']
  tests:
    image: busybox
    command: [sh, -c, 'for i in $$(seq 50); do nc -z server 1 2>/dev/null; sleep 0.05; done; echo tests-ran; exit 3']
    depends_on: [server]
`)
	code, out, errOut := e.run("up", "-t", "1", "--exit-code-from", "tests", "--no-attach", "noisy")
	if code != 3 {
		t.Errorf("exit %d, want the tests' 3\n%s%s", code, out, errOut)
	}
	for _, want := range []string{`(?m)^tests-1 +\| tests-ran$`, `(?m)^tests-1 exited with code 3$`, `(?m)^Aborting on container exit\.\.\.$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("no %s in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "noisy-line") {
		t.Errorf("--no-attach noisy still shows it:\n%s", out)
	}
	for _, c := range e.psAll() {
		if c.State == "running" {
			t.Errorf("%s still runs after --exit-code-from", c.Name)
		}
	}
	e.mustRun("down", "-t", "1")
	e.writeStack("services:\n  job:\n    image: busybox\n    command: [sh, -c, 'echo job-done']\n  other:\n    image: busybox\n    command: [sh, -c, 'exit 2']\n")
	code, out, _ = e.run("up")
	if code != 0 || !strings.Contains(out, "job-1 exited with code 0") || !strings.Contains(out, "other-1 exited with code 2") {
		t.Errorf("plain foreground up: exit %d\n%s", code, out)
	}
	code, out, _ = e.run("up", "--abort-on-container-exit", "--attach", "other")
	if code != 2 || strings.Contains(out, "job-done") {
		t.Errorf("--abort-on-container-exit --attach other: exit %d, want 2, without job's output\n%s", code, out)
	}
}

// TestRootWait: wait returns the exit code of the first container of the
// services to exit; --down-project then takes the project down.
func TestRootWait(t *testing.T) {
	e := newEnv(t)
	flags := filepath.Join(e.dir, "flags")
	os.MkdirAll(flags, 0o755)
	e.writeStack("services:\n  job:\n    image: busybox\n    volumes: ['./flags:/flags']\n    command: [sh, -c, 'while [ ! -f /flags/go ]; do sleep 0.05; done; exit 4']\n  svc:\n    image: busybox\n    command: [sleep, '3600']\n")
	e.mustRun("up", "-d")
	cmd := exec.Command(stackBin, "wait", "job", "--down-project")
	cmd.Env, cmd.Dir = e.vars, e.dir
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(flags, "go"), nil, 0o644)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
		t.Errorf("wait: %v, want exit 4\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "exited with status code 4") {
		t.Errorf("wait said %q", out.String())
	}
	if cs := e.psAll(); len(cs) != 0 {
		t.Errorf("--down-project left %d containers", len(cs))
	}
	if code, _, _ := e.run("wait", "job"); code == 0 {
		t.Error("wait with nothing running succeeded")
	}
}

// TestRootContractWarnings: compose's unset-variable warning, once per
// variable; :z on a host without SELinux is one warning line; an
// environment entry unset in the shell wins over env_file and is unset in
// the container, and a later env_file sees an earlier one's variables.
func TestRootContractWarnings(t *testing.T) {
	e := newEnv(t)
	e.writeFile("a.env", "FROM_FILE=file\nMUST_GO=from-file\nBASE=b\n", 0o644)
	e.writeFile("b.env", "CHAINED=${BASE}-chained\n", 0o644)
	e.writeFile("data/x", "x", 0o644)
	e.writeStack(`services:
  app:
    image: busybox
    command: [sleep, "3600"]
    ports: ["127.0.0.1:${HTTP_PORT}:80"]
    labels: {again: "${HTTP_PORT}"}
    env_file: [a.env, b.env]
    environment: [MUST_GO]
    volumes: ["./data:/data:z"]
`)
	code, out, errOut := e.run("up", "-d")
	if code != 0 {
		t.Fatalf("up: %d\n%s%s", code, out, errOut)
	}
	warning := `The "HTTP_PORT" variable is not set. Defaulting to a blank string.`
	if n := strings.Count(errOut+out, warning); n != 1 {
		t.Errorf("the warning %d times in:\n%s%s", n, out, errOut)
	}
	if !regexp.MustCompile(`(?m)^.*:z ignored: SELinux is not enabled on this host$`).MatchString(out + errOut) {
		t.Errorf("no SELinux warning:\n%s%s", out, errOut)
	}
	env := e.execOut("app", "env")
	if strings.Contains(env, "MUST_GO") || !strings.Contains(env, "FROM_FILE=file") || !strings.Contains(env, "CHAINED=b-chained") {
		t.Errorf("container env:\n%s", env)
	}
}

// TestRootBuildPullsBaseWithCredentials: a Dockerfile FROM an image that
// only a registry has (an in-process one, with basic auth) is pulled on
// build with the credentials stack login wrote into the Docker config;
// the built image has PATH, tag and push work, pushed layers are gzip
// and RepoDigests are recorded; logout forgets the credentials.
func TestRootBuildPullsBaseWithCredentials(t *testing.T) {
	e := newEnv(t)
	reg := newAuthRegistry(t, "dev", "pw")
	base := reg.host + "/base/bb:1"
	reg.push(t, e, base)
	dockerConfig := filepath.Join(e.dir, "docker")
	e.vars = append(e.vars, "DOCKER_CONFIG="+dockerConfig)
	e.stopDaemon() // the next one reads that Docker config
	e.writeFile("app/Dockerfile", "FROM "+base+"\nRUN echo built-on-a-pulled-base > /built\nCMD [\"sh\", \"-c\", \"cat /built; exec sleep 3600\"]\n", 0o644)
	e.writeStack("services:\n  app:\n    build: ./app\n    image: " + reg.host + "/team/app:1\n")
	if code, _, errOut := e.run("build"); code == 0 || !strings.Contains(strings.ToLower(errOut), "unauthorized") {
		t.Errorf("build without credentials: exit %d: %s", code, errOut)
	}
	if code, _, errOut := e.run("up", "-d", "--no-build"); code == 0 || !strings.Contains(errOut, "not here") {
		t.Errorf("up --no-build of an image never built: exit %d: %s", code, errOut)
	}
	if code, _, _ := e.run("login", reg.host, "-u", "dev", "--password", "wrong"); code == 0 {
		t.Error("login with a wrong password succeeded")
	}
	if out := e.mustRun("login", reg.host, "-u", "dev", "--password", "pw"); !strings.Contains(out, "Login Succeeded") {
		t.Errorf("login: %q", out)
	}
	cfg, _ := os.ReadFile(filepath.Join(dockerConfig, "config.json"))
	if !strings.Contains(string(cfg), reg.host) {
		t.Errorf("config.json: %s", cfg)
	}
	e.mustRun("up", "-d")
	waitLogs(e, "app", "built-on-a-pulled-base")
	var inspect []struct {
		RepoDigests []string
		Config      struct{ Env []string }
	}
	if err := json.Unmarshal([]byte(e.mustRun("image", "inspect", reg.host+"/team/app:1")), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	if !strings.Contains(strings.Join(inspect[0].Config.Env, " "), "PATH=") {
		t.Errorf("built image has no PATH: %v", inspect[0].Config.Env)
	}
	e.mustRun("image", "tag", reg.host+"/team/app:1", reg.host+"/team/app:copy")
	e.mustRun("push", reg.host+"/team/app:copy")
	if err := json.Unmarshal([]byte(e.mustRun("image", "inspect", reg.host+"/team/app:1")), &inspect); err != nil {
		t.Fatal(err)
	}
	if len(inspect[0].RepoDigests) != 1 || !strings.HasPrefix(inspect[0].RepoDigests[0], reg.host+"/team/app@sha256:") {
		t.Errorf("RepoDigests after push: %v", inspect[0].RepoDigests)
	}
	if types := reg.layerTypes(t, "team/app:copy"); strings.Contains(types, "tar\n") || !strings.Contains(types, "gzip") {
		t.Errorf("pushed layer media types:\n%s", types)
	}
	var based []struct{ RepoDigests []string }
	json.Unmarshal([]byte(e.mustRun("image", "inspect", base)), &based)
	if len(based) != 1 || len(based[0].RepoDigests) != 1 {
		t.Errorf("RepoDigests after pull: %+v", based)
	}
	// build --pull pulls the base again; up --pull always an image
	// service's, --pull never refuses one that is not here.
	pulls := func() int {
		log, _ := os.ReadFile(filepath.Join(e.root, "daemon.log"))
		return strings.Count(string(log), "pulling image")
	}
	before := pulls()
	e.mustRun("build", "--pull")
	if pulls() != before+1 {
		t.Errorf("build --pull: %d pulls, want 1", pulls()-before)
	}
	e.mustRun("down", "-t", "1")
	e.writeStack("services:\n  b:\n    image: " + base + "\n    command: [sleep, '3600']\n")
	before = pulls()
	e.mustRun("up", "-d", "--pull", "always")
	if pulls() != before+1 {
		t.Errorf("up --pull always: %d pulls, want 1", pulls()-before)
	}
	e.mustRun("down", "-t", "1", "--rmi", "all")
	if code, _, errOut := e.run("up", "-d", "--pull", "never"); code == 0 || !strings.Contains(errOut, "never") {
		t.Errorf("up --pull never of a missing image: exit %d: %s", code, errOut)
	}
	// run pulls a missing image as up does; --pull never refuses to,
	// --pull always pulls one that is here.
	if code, _, errOut := e.run("run", "--rm", "-T", "--pull", "never", "b", "true"); code == 0 || !strings.Contains(errOut, "never") {
		t.Errorf("run --pull never of a missing image: exit %d: %s", code, errOut)
	}
	before = pulls()
	e.mustRun("run", "--rm", "-T", "b", "true")
	if pulls() != before+1 {
		t.Errorf("run of a missing image: %d pulls, want 1", pulls()-before)
	}
	e.mustRun("run", "--rm", "-T", "--pull", "always", "b", "true")
	if pulls() != before+2 {
		t.Errorf("run --pull always: %d pulls, want 1", pulls()-before-1)
	}
	e.mustRun("run", "--rm", "-T", "--pull", "missing", "b", "true")
	if pulls() != before+2 {
		t.Errorf("run --pull missing of an image that is here pulled it")
	}
	if out := e.mustRun("logout", reg.host); !strings.Contains(out, "Removing login credentials for "+reg.host) {
		t.Errorf("logout: %q", out)
	}
	cfg, _ = os.ReadFile(filepath.Join(dockerConfig, "config.json"))
	if strings.Contains(string(cfg), reg.host) {
		t.Errorf("logout left %s", cfg)
	}
}

var _ = fmt.Sprint

// TestRootCredentialHelper: a Docker config whose credHelpers names a
// helper for the registry: login stores the credentials through
// docker-credential-NAME (config.json gets at most docker's empty
// entry), the daemon pulls with what the helper answers, as docker's
// keychain does, and logout erases them.
func TestRootCredentialHelper(t *testing.T) {
	e := newEnv(t)
	reg := newAuthRegistry(t, "dev", "pw")
	ref := reg.host + "/base/bb:1"
	reg.push(t, e, ref)
	store := filepath.Join(e.dir, "helper-store")
	e.writeFile("bin/docker-credential-e2e", `#!/bin/sh
case "$1" in
store) cat > `+store+` ;;
get) if [ -f `+store+` ]; then cat `+store+`; else echo "credentials not found in native keychain"; exit 1; fi ;;
erase) rm -f `+store+` ;;
list) echo '{}' ;;
esac
`, 0o755)
	config := e.writeFile("docker/config.json", `{"credHelpers":{"`+reg.host+`":"e2e"}}`, 0o600)
	e.vars = append(e.vars, "DOCKER_CONFIG="+filepath.Dir(config), "PATH="+filepath.Join(e.dir, "bin")+":"+os.Getenv("PATH"))
	e.stopDaemon() // the next one reads that Docker config and PATH
	e.writeStack("services:\n  b:\n    image: " + ref + "\n    command: [sleep, '3600']\n")
	if code, _, errOut := e.run("pull"); code == 0 || !strings.Contains(strings.ToLower(errOut), "unauthorized") {
		t.Errorf("pull before login: exit %d: %s", code, errOut)
	}
	e.mustRun("login", reg.host, "-u", "dev", "--password", "pw")
	if cfg, _ := os.ReadFile(config); strings.Contains(string(cfg), "ZGV2OnB3") || strings.Contains(string(cfg), `"pw"`) {
		t.Errorf("login wrote the credentials into config.json, not the helper: %s", cfg)
	}
	if kept, _ := os.ReadFile(store); !strings.Contains(string(kept), `"Secret":"pw"`) {
		t.Errorf("the helper holds %q", kept)
	}
	e.mustRun("pull")
	if ls := e.mustRun("image", "ls"); !strings.Contains(ls, reg.host+"/base/bb") {
		t.Errorf("pull with the helper's credentials:\n%s", ls)
	}
	e.mustRun("logout", reg.host)
	if _, err := os.Stat(store); err == nil {
		t.Error("logout left the helper's credentials")
	}
}

// TestRootSecretsExample runs examples/secrets as its comment says: up
// --exit-code-from tests returns 0 once the tests passed against a db
// that read its password from a secret.
func TestRootSecretsExample(t *testing.T) {
	e := newEnv(t)
	example, _ := filepath.Abs("../../examples/secrets/stack.yaml")
	code, out, errOut := e.run("-f", example, "-p", e.project, "up", "-t", "1", "--exit-code-from", "tests")
	if code != 0 || !strings.Contains(out, "tests passed") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	e.mustRun("-f", example, "-p", e.project, "down", "-v", "-t", "1")
}
