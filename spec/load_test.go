package spec_test

import (
	"bytes"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/spec"
)

var update = flag.Bool("update", false, "update .golden files")

// testEnviron is a fixed shell environment, so golden output does not depend
// on the machine.
var testEnviron = []string{"HOME=/home/dev", "GIT_SHA=abc123", "TLS_CERT=-----BEGIN-----"}

// TestLoadGolden loads each stack under testdata/load and compares its
// canonical YAML with the golden file beside it. Absolute paths into the
// test directory print as $DIR.
func TestLoadGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/load/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			p, err := spec.Load(spec.LoadOptions{WorkingDir: abs, Environ: testEnviron})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			out, err := spec.RenderYAML(p)
			if err != nil {
				t.Fatal(err)
			}
			out = bytes.ReplaceAll(out, []byte(abs), []byte("$DIR"))
			if len(p.Warnings) > 0 {
				warn := "# warnings:\n"
				for _, w := range p.Warnings {
					warn += "#   " + strings.ReplaceAll(w, abs, "$DIR") + "\n"
				}
				out = append([]byte(warn), out...)
			}
			testutil.Golden(t, filepath.Join(dir, "config.golden"), out, *update)

			// JSON renders the same model.
			if _, err := spec.RenderJSON(p); err != nil {
				t.Fatalf("render json: %v", err)
			}
		})
	}
}

// TestLoadExamples checks that every stack file under examples/ loads.
func TestLoadExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/*/stack.yaml")
	more, _ := filepath.Glob("../examples/*/compose.yaml")
	files = append(files, more...)
	if len(files) == 0 {
		t.Skip("no examples yet")
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			if _, err := spec.Load(spec.LoadOptions{Files: []string{f}, Environ: os.Environ()}); err != nil {
				t.Fatalf("load %s: %v", f, err)
			}
		})
	}
}

// load parses one stack file given as text, in a temporary directory.
func load(t *testing.T, yaml string, environ ...string) (*spec.Project, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return spec.Load(spec.LoadOptions{WorkingDir: dir, ProjectName: "test", Environ: append([]string{"HOME=/home/dev"}, environ...)})
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want []string // each a problem line, after "stack.yaml:"
	}{
		{"unknown service key with suggestion", "services:\n  web:\n    image: x\n    enviroment: {A: b}\n",
			nil, []string{"4:5: services.web.enviroment: unknown key: did you mean \"environment\"?"}},
		{"unknown top-level key", "services:\n  web: {image: x}\nservice:\n  a: {}\n",
			nil, []string{"3:1: service: unknown key: did you mean \"services\"?"}},
		{"wrong type", "services:\n  web:\n    image: [a]\n",
			nil, []string{"3:12: services.web.image: must be a string, not a list"}},
		{"bad duration", "services:\n  web:\n    image: x\n    stop_grace_period: 10\n",
			nil, []string{`4:24: services.web.stop_grace_period: invalid duration "10": want a number with a unit, such as 30s, 1m30s or 500ms`}},
		{"bad byte size", "services:\n  web:\n    image: x\n    mem_limit: 12 parsecs\n",
			nil, []string{`4:16: services.web.mem_limit: invalid byte size "12 parsecs": want a number with an optional unit b, k, m or g, such as 512m or 1g`}},
		{"bad cpus", "services:\n  web:\n    image: x\n    cpus: lots\n",
			nil, []string{`4:11: services.web.cpus: invalid CPU count "lots": want a positive number such as 0.5 or 2`}},
		{"bad port", "services:\n  web:\n    image: x\n    ports: [\"80:99999\"]\n",
			nil, []string{`4:13: services.web.ports[0]: invalid port "80:99999": container port: "99999" is not a port number (1-65535)`}},
		{"bad port range", "services:\n  web:\n    image: x\n    ports: [\"80-82:80-81\"]\n",
			nil, []string{`4:13: services.web.ports[0]: invalid port "80-82:80-81": the host range has 3 ports but the container range 2`}},
		{"undefined dependency", "services:\n  web:\n    image: x\n    depends_on: [dbb]\n  db: {image: y}\n",
			nil, []string{`4:18: services.web.depends_on.dbb: service "dbb" is not defined: did you mean "db"?`}},
		{"undefined network", "services:\n  web:\n    image: x\n    networks: [front]\n",
			nil, []string{`4:16: services.web.networks.front: network "front" is not defined`}},
		{"undefined volume", "services:\n  web:\n    image: x\n    volumes: [\"data:/data\"]\n",
			nil, []string{`4:15: services.web.volumes[0]: volume "data" is not defined: add it under the top-level volumes: key`}},
		{"undefined secret", "services:\n  web:\n    image: x\n    secrets: [token]\n",
			nil, []string{`4:15: services.web.secrets[0]: secret "token" is not defined`}},
		{"duplicate host port", "services:\n  a:\n    image: x\n    ports: [\"8080:80\"]\n  b:\n    image: x\n    ports: [\"8080:81\"]\n",
			nil, []string{`7:13: services.b.ports: host port 8080/tcp is already published by service "a"`}},
		{"wildcard and address conflict", "services:\n  a:\n    image: x\n    ports: [\"127.0.0.1:8080:80\"]\n  b:\n    image: x\n    ports: [\"8080:81\"]\n",
			nil, []string{`7:13: services.b.ports: host port 8080/tcp is already published by service "a"`}},
		{"same port different protocol is fine", "services:\n  a:\n    image: x\n    ports: [\"53:53/udp\", \"53:53/tcp\"]\n",
			nil, nil},
		{"duplicate container name", "services:\n  a:\n    image: x\n    container_name: c\n  b:\n    image: x\n    container_name: c\n",
			nil, []string{`7:21: services.b.container_name: container name "c" is already used by service "a"`}},
		{"two-node cycle", "services:\n  web:\n    image: x\n    depends_on: [php]\n  php:\n    image: x\n    depends_on: [web]\n",
			nil, []string{`4:18: services.web.depends_on.php: dependency cycle: php -> web -> php`}},
		{"three-node cycle", "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n",
			nil, []string{`4:30: services.c.depends_on.a: dependency cycle: a -> b -> c -> a`}},
		{"self dependency", "services:\n  a: {image: x, depends_on: [a]}\n",
			nil, []string{`2:30: services.a.depends_on.a: dependency cycle: a -> a`}},
		{"no image or build", "services:\n  web:\n    command: x\n",
			nil, []string{`3:5: services.web: has neither image nor build: set one of them`}},
		{"unsupported key", "services:\n  web:\n    image: x\n    ipc: host\n",
			nil, []string{"4:5: services.web.ipc: `ipc` is not supported by stack yet: remove it, or run this service elsewhere"}},
		{"unknown security option", "services:\n  web:\n    image: x\n    security_opt: [no-new-privileges, \"seccomp=unconfined\", \"label=disable\", \"apparmor:unconfined\", \"pid=host\"]\n",
			nil, []string{`4:101: services.web.security_opt[4]: unknown security option "pid=host": want seccomp=unconfined, seccomp=PROFILE.json, no-new-privileges[:true|false], label=disable, apparmor=unconfined or systempaths=unconfined`}},
		{"selinux label", "services:\n  web:\n    image: x\n    security_opt: [\"label=user:USER\", \"apparmor=docker-default\", \"no-new-privileges:maybe\"]\n",
			nil, []string{`4:20: services.web.security_opt[0]: security option "label=user:USER": stack applies no SELinux labels: only label=disable is accepted`,
				`4:39: services.web.security_opt[1]: security option "apparmor=docker-default": stack applies no AppArmor profile: only apparmor=unconfined is accepted`,
				`4:66: services.web.security_opt[2]: security option "no-new-privileges:maybe": no-new-privileges takes true or false`}},
		{"missing seccomp profile", "services:\n  web:\n    image: x\n    security_opt: [\"seccomp=nope.json\"]\n",
			nil, []string{`4:20: services.web.security_opt[0]: seccomp profile nope.json: no such file`}},
		{"path in a service name", "services:\n  a/b:\n    image: x\n",
			nil, []string{`3:5: services.a/b: service name "a/b": must be 1-128 of [a-zA-Z0-9._-]`}},
		{"path in a container name", "services:\n  a:\n    image: x\n    container_name: \"x/../../../../cnvictim\"\n",
			nil, []string{`4:21: services.a.container_name: container_name "x/../../../../cnvictim": must be 1-128 of [a-zA-Z0-9_.-], starting with a letter or digit`}},
		{"path in a volume name", "services:\n  a:\n    image: x\n    volumes: [\"data:/data\"]\nvolumes:\n  data:\n    name: \"../../victim\"\n",
			nil, []string{`7:11: volumes.data.name: volume name "../../victim": must be 1-128 of [a-zA-Z0-9_.-], starting with a letter or digit`}},
		{"glob in a network name", "services:\n  a:\n    image: x\n    networks: [n]\nnetworks:\n  n:\n    name: \"*\"\n",
			nil, []string{`7:11: networks.n.name: network name "*": must be 1-128 of [a-zA-Z0-9_.-], starting with a letter or digit`}},
		{"required variable", "services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n",
			nil, []string{`3:12: services.web.image: required variable IMAGE is missing a value: set IMAGE`}},
		{"invalid interpolation", "services:\n  web:\n    image: ${IMAGE\n",
			nil, []string{`3:12: services.web.image: invalid interpolation format for "${IMAGE"`}},
		{"bad restart", "services:\n  web:\n    image: x\n    restart: sometimes\n",
			nil, []string{`4:14: services.web.restart: invalid restart policy "sometimes": want no, always, on-failure, on-failure:N or unless-stopped`}},
		{"bad condition", "services:\n  web:\n    image: x\n    depends_on:\n      db: {condition: service_ready}\n  db: {image: y}\n",
			nil, []string{`5:23: services.web.depends_on.db.condition: invalid value "service_ready": want one of service_started, service_healthy, service_completed_successfully`}},
		{"static ip needs subnet", "services:\n  web:\n    image: x\n    networks:\n      n: {ipv4_address: 10.1.2.3}\nnetworks:\n  n:\n",
			nil, []string{`5:25: services.web.networks.n.ipv4_address: a static address needs a network with a subnet: set ipam.config[].subnet on network "test_n"`}},
		{"static ip outside subnet", "services:\n  web:\n    image: x\n    networks:\n      n: {ipv4_address: 10.9.2.3}\nnetworks:\n  n:\n    ipam:\n      config: [{subnet: 10.1.0.0/16}]\n",
			nil, []string{`5:25: services.web.networks.n.ipv4_address: 10.9.2.3 is outside the subnets of the network`}},
		{"network_mode and networks", "services:\n  web:\n    image: x\n    network_mode: host\n    networks: [n]\nnetworks:\n  n:\n",
			nil, []string{`4:19: services.web.network_mode: network_mode and networks cannot be combined: keep one`}},
		{"invalid yaml", "services:\n  web:\n    image: x\n   bad indent: y\n",
			nil, []string{`4:4: invalid YAML: this line is indented 3 spaces, between the levels of the keys around it (2 and 4 spaces): line it up with one of them`}},
		{"several problems at once", "services:\n  a:\n    image: x\n    tty: maybe\n  b:\n    image: x\n    ports: [\"x:80\"]\n",
			nil, []string{`4:10: services.a.tty: must be true or false, not a str ("maybe")`,
				`7:13: services.b.ports[0]: invalid port "x:80": host port: "x" is not a port number (1-65535)`}},
		{"container_name with replicas", "services:\n  a:\n    image: x\n    container_name: c\n    scale: 2\n",
			nil, []string{`4:21: services.a.container_name: a service with a container_name cannot run 2 replicas: remove container_name or scale to 1`}},
		{"published port with replicas", "services:\n  a:\n    image: x\n    ports: [\"80:80\"]\n    deploy: {replicas: 2}\n",
			nil, []string{`4:13: services.a.ports: host port 80 is published by 2 replicas: only one can have it; publish a range or an ephemeral port`}},
		{"duplicate key", "services:\n  a:\n    image: x\n    image: y\n",
			nil, []string{`4:5: services.a.image: duplicate key: remove one of them`}},
		{"bad healthcheck test", "services:\n  a:\n    image: x\n    healthcheck:\n      test: [curl, localhost]\n",
			nil, []string{`5:13: services.a.healthcheck.test: a test list must start with "CMD", "CMD-SHELL" or "NONE" (got "curl")`}},
		{"bad volume", "services:\n  a:\n    image: x\n    volumes: [\"./x:relative\"]\n",
			nil, []string{`4:15: services.a.volumes[0]: invalid volume "./x:relative": the target "relative" must be an absolute path in the container`}},
		{"bad log max-size", "services:\n  a:\n    image: x\n    logging:\n      options: {max-size: 8 parsecs, max-file: \"3\"}\n",
			nil, []string{`5:27: services.a.logging.options.max-size: invalid size "8 parsecs": want a positive size such as 10m`}},
		{"zero log max-size", "services:\n  a:\n    image: x\n    logging:\n      options:\n        max-size: \"0\"\n",
			nil, []string{`6:19: services.a.logging.options.max-size: invalid size "0": want a positive size such as 10m`}},
		{"bad log max-file", "services:\n  a:\n    image: x\n    logging:\n      driver: json-file\n      options:\n        max-size: 10m\n        max-file: \"0\"\n",
			nil, []string{`8:19: services.a.logging.options.max-file: invalid count "0": want a positive number of files`}},
		{"word log max-file", "services:\n  a:\n    image: x\n    logging:\n      options:\n        max-file: three\n",
			nil, []string{`6:19: services.a.logging.options.max-file: invalid count "three": want a positive number of files`}},
		{"unknown signal", "services:\n  a:\n    image: x\n    stop_signal: SIGFOO\n",
			nil, []string{`4:18: services.a.stop_signal: unknown signal "SIGFOO": want a name such as SIGTERM or SIGQUIT`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.yaml, tt.env...)
			var got []string
			for _, e := range spec.Errors(err) {
				msg := e.Error()
				got = append(got, msg[strings.Index(msg, "stack.yaml:")+len("stack.yaml:"):])
			}
			sort.Strings(got)
			want := append([]string(nil), tt.want...)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("errors:\n got: %q\nwant: %q", got, want)
			}
			if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("error does not wrap ErrInvalidArgument: %v", err)
			}
		})
	}
}

func TestUnsupportedIsNotImplemented(t *testing.T) {
	_, err := load(t, "services:\n  a:\n    image: x\n    devices: [/dev/fuse]\n")
	if !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Fatalf("want ErrNotImplemented, got %v", err)
	}
}

func TestWarnings(t *testing.T) {
	p, err := load(t, "version: '3'\nservices:\n  a:\n    image: x\n    deploy:\n      placement: {constraints: [node.role==manager]}\n    depends_on:\n      gone: {required: false}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"stack.yaml:1:1: version: obsolete: it is ignored, and can be removed",
		"stack.yaml:6:7: services.a.deploy.placement: ignored: it has no effect on a single host",
		`stack.yaml:8:7: services.a.depends_on: service "gone" is not defined; ignored because required is false`,
	}
	var got []string
	for _, w := range p.Warnings {
		got = append(got, w[strings.Index(w, "stack.yaml:"):])
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n got: %q\nwant: %q", got, want)
	}
	if len(p.Services["a"].DependsOn) != 0 {
		t.Errorf("optional missing dependency kept: %v", p.Services["a"].DependsOn)
	}
}

// TestLoggingOptions: logging.options keeps max-size and max-file as
// written (the daemon parses them to bytes and a count), in any unit of a
// byte size, and warns of every other option, which changes nothing.
func TestLoggingOptions(t *testing.T) {
	p, err := load(t, `services:
  a:
    image: x
    logging:
      driver: json-file
      options: {max-size: 8k, max-file: "3", compress: "true", labels: x}
  b:
    image: x
    logging:
      options:
        max-size: 10m
  c:
    image: x
    logging: {driver: local, options: {max-size: 1.5G}}
  d:
    image: x
`)
	if err != nil {
		t.Fatal(err)
	}
	for service, want := range map[string]map[string]string{
		"a": {"max-size": "8k", "max-file": "3"},
		"b": {"max-size": "10m"},
		"c": {"max-size": "1.5G"},
	} {
		lg := p.Services[service].Logging
		if lg == nil || !maps.Equal(lg.Options, want) {
			t.Errorf("services.%s.logging = %+v, want options %v", service, lg, want)
		}
	}
	if p.Services["a"].Logging.Driver != "json-file" || p.Services["c"].Logging.Driver != "local" {
		t.Errorf("drivers: %q, %q", p.Services["a"].Logging.Driver, p.Services["c"].Logging.Driver)
	}
	if lg := p.Services["d"].Logging; lg != nil {
		t.Errorf("a service without logging has %+v, want nil (the daemon's default)", lg)
	}
	want := []string{
		"stack.yaml:6:56: services.a.logging.options.compress: ignored: stack applies max-size and max-file only",
		"stack.yaml:6:72: services.a.logging.options.labels: ignored: stack applies max-size and max-file only",
	}
	var got []string
	for _, w := range p.Warnings {
		got = append(got, w[strings.Index(w, "stack.yaml:"):])
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n got: %q\nwant: %q", got, want)
	}
	for _, size := range []string{"8k", "10m", "1.5G", "512kb", "2MiB"} {
		if n, err := spec.ParseByteSize(size); err != nil || n <= 0 {
			t.Errorf("ParseByteSize(%q) = %d, %v", size, n, err)
		}
	}
	if n, _ := spec.ParseByteSize("8k"); n != 8<<10 {
		t.Errorf("ParseByteSize(8k) = %d, want %d", n, 8<<10)
	}
	if n, _ := spec.ParseByteSize("10m"); n != 10<<20 {
		t.Errorf("ParseByteSize(10m) = %d, want %d", n, 10<<20)
	}
}

func TestProjectName(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		opts    spec.LoadOptions
		environ []string
		want    string
		wantErr bool
	}{
		{name: "directory name normalised", yaml: "services: {a: {image: x}}", want: "myapp-1"},
		{name: "name key", yaml: "name: fromfile\nservices: {a: {image: x}}", want: "fromfile"},
		{name: "env wins over name key", yaml: "name: fromfile\nservices: {a: {image: x}}", environ: []string{"COMPOSE_PROJECT_NAME=Env.Name"}, want: "envname"},
		{name: "flag wins", yaml: "name: fromfile\nservices: {a: {image: x}}", opts: spec.LoadOptions{ProjectName: "flag"}, want: "flag"},
		{name: "invalid flag", yaml: "services: {a: {image: x}}", opts: spec.LoadOptions{ProjectName: "Bad Name"}, wantErr: true},
		{name: "interpolated name", yaml: "name: app-${STAGE}\nservices: {a: {image: x}}", environ: []string{"STAGE=dev"}, want: "app-dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "My App-1")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			opts := tt.opts
			opts.WorkingDir = dir
			opts.Environ = tt.environ
			p, err := spec.Load(opts)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got project %q", p.Name)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.want {
				t.Errorf("name = %q, want %q", p.Name, tt.want)
			}
		})
	}
}

func TestMultipleFilesAndStdin(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "a.yaml")
	over := filepath.Join(dir, "b.yaml")
	os.WriteFile(base, []byte("services:\n  web:\n    image: x\n    ports: ['80:80']\n"), 0o644)
	os.WriteFile(over, []byte("services:\n  web:\n    ports: ['80:80', '81:81']\n"), 0o644)
	p, err := spec.Load(spec.LoadOptions{Files: []string{base, over}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Services["web"].Ports); n != 2 {
		t.Errorf("ports merged by unique key: got %d ports, want 2", n)
	}
	p, err = spec.Load(spec.LoadOptions{Files: []string{"-"}, WorkingDir: dir, Stdin: strings.NewReader("services: {s: {image: x}}")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Services["s"].Image != "x" {
		t.Errorf("stdin stack not read")
	}
	_, err = spec.Load(spec.LoadOptions{Files: []string{filepath.Join(dir, "missing.yaml")}})
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("missing file: want ErrNotFound, got %v", err)
	}
	_, err = spec.Load(spec.LoadOptions{WorkingDir: t.TempDir()})
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "stack.yaml") {
		t.Errorf("no file found: want ErrNotFound naming the default names, got %v", err)
	}
}

func TestIncludeLoop(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte("include: [other.yaml]\nservices: {a: {image: x}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "other.yaml"), []byte("include: [stack.yaml]\nservices: {b: {image: x}}\n"), 0o644)
	_, err := spec.Load(spec.LoadOptions{WorkingDir: dir})
	if err == nil || !strings.Contains(err.Error(), "include loop") {
		t.Fatalf("want an include loop error, got %v", err)
	}
	os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte("include: [stack.yaml]\nservices: {a: {image: x}}\n"), 0o644)
	_, err = spec.Load(spec.LoadOptions{WorkingDir: dir})
	if err == nil || !strings.Contains(err.Error(), "include loop") {
		t.Fatalf("self include: want an include loop error, got %v", err)
	}
}

func TestActiveProfilesPick(t *testing.T) {
	for _, tt := range []struct {
		flags []string
		env   string
		want  []string
	}{
		{nil, "", nil},
		{nil, "debug,ops", []string{"debug", "ops"}},
		{[]string{"web"}, "debug", []string{"web"}},
	} {
		if got := spec.ActiveProfiles(tt.flags, tt.env); !slices.Equal(got, tt.want) {
			t.Errorf("ActiveProfiles(%q, %q) = %q, want %q", tt.flags, tt.env, got, tt.want)
		}
	}
}
