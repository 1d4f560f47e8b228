package kube_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/testutil"
	"github.com/stack-dev/stack/kube"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

var update = flag.Bool("update", false, "update testdata/golden/*.yaml")

// convertFiles loads the stack files (later ones merged over earlier ones)
// and converts the services the arguments select.
func convertFiles(t *testing.T, files []string, environ []string, services ...string) (*kube.Manifests, error) {
	t.Helper()
	return convertSelected(t, files, environ, planner.SelectOptions{Services: services})
}

// convertSelected loads the stack files and converts the services sel
// selects.
func convertSelected(t *testing.T, files []string, environ []string, sel planner.SelectOptions) (*kube.Manifests, error) {
	t.Helper()
	p, err := spec.Load(spec.LoadOptions{Files: files, Environ: environ})
	if err != nil {
		t.Fatalf("load %v: %v", files, err)
	}
	selection, err := planner.Select(p, sel)
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	return kube.Convert(planner.Restrict(p, selection), kube.Options{Environ: environ})
}

// goldenCases are the stack files whose manifests are kept as golden
// files: the examples, and testdata/everything for every mapped key.
var goldenCases = []struct {
	name     string
	files    []string
	environ  []string
	services []string
	profiles []string
}{
	{name: "hello", files: []string{"../examples/hello/stack.yaml"}},
	{name: "lemp", files: []string{"../examples/lemp/stack.yaml", "../examples/kube/lemp/stack.yaml"}},
	{name: "wordpress", files: []string{"../examples/kube/wordpress/stack.yaml"}},
	{name: "django", files: []string{"../examples/kube/django/stack.yaml"}},
	{name: "replicas", files: []string{"../examples/kube/replicas/stack.yaml"}},
	{name: "secrets", files: []string{"../examples/kube/secrets/stack.yaml"}, environ: []string{"APP_TLS_KEY=not-a-real-key"}},
	{name: "everything", files: []string{"testdata/everything/stack.yaml"}},
	// SERVICE arguments select a service and its dependencies.
	{name: "django-worker", files: []string{"../examples/kube/django/stack.yaml"}, services: []string{"worker"}},
	// Profiles select services, and the StatefulSet rule counts only the
	// selected ones: data is app's claim template with no profile, and a
	// shared claim once profile ops brings backup.
	{name: "profiles", files: []string{"testdata/profiles/stack.yaml"}},
	{name: "profiles-debug", files: []string{"testdata/profiles/stack.yaml"}, profiles: []string{"debug"}},
	{name: "profiles-ops", files: []string{"testdata/profiles/stack.yaml"}, profiles: []string{"ops"}},
	// Naming a profiled service enables it (and its profiles) alone.
	{name: "profiles-backup", files: []string{"testdata/profiles/stack.yaml"}, services: []string{"backup"}},
}

// TestConvertGolden compares the manifests and warnings of each case with
// testdata/golden/NAME.yaml; go test ./kube -update rewrites them.
func TestConvertGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := convertSelected(t, tc.files, tc.environ, planner.SelectOptions{Services: tc.services, Profiles: tc.profiles})
			if err != nil {
				t.Fatalf("convert: %v", err)
			}
			out, err := m.RenderYAML()
			if err != nil {
				t.Fatal(err)
			}
			// Warnings name files by absolute path: keep the checkout's
			// location out of the golden files.
			repo, err := filepath.Abs("..")
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, w := range m.Warnings {
				b.WriteString("# warning: " + strings.ReplaceAll(w, repo+"/", "") + "\n")
			}
			b.Write(out)
			testutil.Golden(t, filepath.Join("testdata", "golden", tc.name+".yaml"), []byte(b.String()), *update)
		})
	}
}

// TestConvertDeterministic converts the same file twice: maps must not
// leak their order into the output.
func TestConvertDeterministic(t *testing.T) {
	var first []byte
	for i := 0; i < 5; i++ {
		m, err := convertFiles(t, []string{"testdata/everything/stack.yaml"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := m.RenderYAML()
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = out
		} else if string(out) != string(first) {
			t.Fatal("two conversions of one file differ")
		}
	}
}

// TestWriteDir writes one file per object, in apply order, secrets
// readable only by the owner.
func TestWriteDir(t *testing.T) {
	m, err := convertFiles(t, []string{"../examples/kube/wordpress/stack.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	names, err := m.WriteDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(m.Objects) || names[0] != "00-namespace-wordpress.yaml" {
		t.Fatalf("names = %v", names)
	}
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(n, "-secret-") && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", n, fi.Mode().Perm())
		}
	}
}

// TestConfigHash checks that the pod template's config hash changes with
// the data of the ConfigMaps and Secrets the pods read, and only then.
func TestConfigHash(t *testing.T) {
	hash := func(env string) map[string]string {
		dir := t.TempDir()
		write(t, dir, "stack.yaml", "name: h\nservices:\n  a:\n    image: a\n    environment:\n      MODE: "+env+"\n  b:\n    image: b\n    environment:\n      DB_PASSWORD: x\n")
		m, err := convertFiles(t, []string{filepath.Join(dir, "stack.yaml")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		objs, _ := m.Unstructured()
		for _, o := range objs {
			if o.GetKind() == "Deployment" {
				v, _, _ := unstructuredString(o.Object, "spec", "template", "metadata", "annotations", kube.AnnotationConfigHash)
				out[o.GetName()] = v
			}
		}
		return out
	}
	one, two := hash("one"), hash("two")
	if one["a"] == "" || one["a"] == two["a"] {
		t.Errorf("hash of a: %q then %q: want a change", one["a"], two["a"])
	}
	if one["b"] == "" || one["b"] != two["b"] {
		t.Errorf("hash of b: %q then %q: want no change", one["b"], two["b"])
	}
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[f]
	}
	s, ok := cur.(string)
	return s, ok, nil
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConvertProblems is the table of every key the conversion refuses or
// leaves out: each case is a stack file and the errors (or warnings) it
// gets, with file:line:col.
func TestConvertProblems(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		files   map[string]string
		errs    []string
		warns   []string
		notImpl bool // the errors wrap errdefs.ErrNotImplemented
	}{
		{
			name:    "bind mount read-write",
			yaml:    "services:\n  web:\n    image: nginx\n    volumes:\n      - ./site:/usr/share/nginx/html\n",
			files:   map[string]string{"site/index.html": "hi"},
			errs:    []string{"stack.yaml:5:9: services.web.volumes[0]: bind mount of DIR/site: a cluster has no host paths to mount: it is read-write (a read-only one of project files, :ro, becomes a ConfigMap); use a named volume, or a config"},
			notImpl: true,
		},
		{
			name:    "bind mount outside the project",
			yaml:    "services:\n  web:\n    image: nginx\n    volumes:\n      - /etc/ssl:/etc/ssl:ro\n",
			errs:    []string{"stack.yaml:5:9: services.web.volumes[0]: bind mount of /etc/ssl: a cluster has no host paths to mount: /etc/ssl is outside the project directory; use a named volume, or a config"},
			notImpl: true,
		},
		{
			name:  "bind mount read-only of project files",
			yaml:  "services:\n  web:\n    image: nginx\n    volumes:\n      - ./site:/usr/share/nginx/html:ro\n",
			files: map[string]string{"site/index.html": "hi"},
			warns: []string{"stack.yaml:5:9: services.web.volumes[0]: bind mount of ./site: copied into ConfigMap web-files-0; a change on disk needs another apply"},
		},
		{
			name:    "bind mount of a tree",
			yaml:    "services:\n  web:\n    image: nginx\n    volumes:\n      - ./site:/usr/share/nginx/html:ro\n",
			files:   map[string]string{"site/css/a.css": "x"},
			errs:    []string{"stack.yaml:5:9: services.web.volumes[0]: bind mount of DIR/site: css is not a regular file: only a directory of files becomes a ConfigMap"},
			notImpl: true,
		},
		{
			name:    "build without image",
			yaml:    "services:\n  app:\n    build: .\n",
			errs:    []string{"stack.yaml:3:5: services.app.build: a cluster cannot build images: build and push the image, and name it with image:"},
			notImpl: true,
		},
		{
			name:  "build with image",
			yaml:  "services:\n  app:\n    build: .\n    image: example.test/app:1\n",
			warns: []string{"stack.yaml:3:5: services.app.build: ignored: the cluster pulls example.test/app:1; build and push it first"},
		},
		{
			name:    "volumes_from",
			yaml:    "services:\n  a:\n    image: a\n    volumes_from: [b]\n  b:\n    image: b\n",
			errs:    []string{"stack.yaml:4:5: services.a.volumes_from: pods cannot mount another pod's volumes: mount the same named volume in both services"},
			notImpl: true,
		},
		{
			name:    "network_mode service",
			yaml:    "services:\n  a:\n    image: a\n    network_mode: service:b\n  b:\n    image: b\n",
			errs:    []string{"stack.yaml:4:5: services.a.network_mode: pods cannot share another pod's network namespace: run the two as containers of one service's pod"},
			notImpl: true,
		},
		{
			name:    "network_mode none",
			yaml:    "services:\n  a:\n    image: a\n    network_mode: none\n",
			errs:    []string{"stack.yaml:4:5: services.a.network_mode: a pod without a network cannot be expressed"},
			notImpl: true,
		},
		{
			name:    "user name",
			yaml:    "services:\n  a:\n    image: a\n    user: www-data\n",
			errs:    []string{`stack.yaml:4:5: services.a.user: user "www-data": Kubernetes runs containers as a numeric user id (runAsUser): write the uid (and :gid)`},
			notImpl: true,
		},
		{
			name:    "group name",
			yaml:    "services:\n  a:\n    image: a\n    user: \"1000:staff\"\n",
			errs:    []string{`stack.yaml:4:5: services.a.user: group "staff": Kubernetes needs a numeric group id (runAsGroup)`},
			notImpl: true,
		},
		{
			name: "service name no DNS label",
			yaml: "services:\n  php_fpm:\n    image: php\n",
			errs: []string{`stack.yaml:2:3: services.php_fpm: service name "php_fpm" is no DNS label, so no Kubernetes Service can carry it and other services could not find it by name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'); rename it (lowercase letters, digits and '-')`},
		},
		{
			name:    "external secret",
			yaml:    "services:\n  a:\n    image: a\n    secrets: [s]\nsecrets:\n  s:\n    file: ./s.txt\n",
			errs:    []string{"stack.yaml:7:5: secrets.s.file: read DIR/s.txt: no such file or directory"},
			notImpl: false,
		},
		{
			name: "secret from unset variable",
			yaml: "services:\n  a:\n    image: a\n    secrets: [s]\nsecrets:\n  s:\n    environment: NOT_SET_ANYWHERE\n",
			errs: []string{"stack.yaml:7:5: secrets.s.environment: variable NOT_SET_ANYWHERE is not set"},
		},
		{
			name: "warnings",
			yaml: "services:\n  a:\n    image: a\n    container_name: the-a\n    domainname: corp.test\n    stop_signal: SIGINT\n    init: true\n    ulimits:\n      nofile: 1024\n    cpu_shares: 512\n    cpu_quota: 50000\n    cpu_period: 100000\n    cpuset: \"0\"\n    memswap_limit: 1g\n    mem_limit: 512m\n    pids_limit: 100\n    restart: on-failure\n    links: [b]\n    depends_on:\n      c:\n        condition: service_completed_successfully\n  b:\n    image: b\n  c:\n    image: c\n",
			warns: []string{
				"stack.yaml:4:5: services.a.container_name: ignored: the controller names pods (<service>-<hash>); other services reach it by service name",
				"stack.yaml:5:5: services.a.domainname: ignored: pods take the cluster's DNS domain",
				"stack.yaml:6:5: services.a.stop_signal: ignored: pods stop with SIGTERM",
				"stack.yaml:7:5: services.a.init: ignored: Kubernetes runs no init process in the container; use an image with one (tini)",
				"stack.yaml:8:5: services.a.ulimits: ignored: pods take the node's limits",
				"stack.yaml:10:5: services.a.cpu_shares: ignored: use cpus or deploy.resources.reservations.cpus",
				"stack.yaml:11:5: services.a.cpu_quota: ignored: use cpus or deploy.resources.limits.cpus",
				"stack.yaml:12:5: services.a.cpu_period: ignored: the kubelet sets the CFS period",
				"stack.yaml:13:5: services.a.cpuset: ignored: the kubelet's CPU manager places containers",
				"stack.yaml:14:5: services.a.memswap_limit: ignored: the node's swap behaviour applies",
				"stack.yaml:16:5: services.a.pids_limit: ignored: the kubelet's --pod-max-pids applies",
				"stack.yaml:18:5: services.a.links: kept only as dependencies: every service is reachable by its name; link aliases are not made",
				`stack.yaml:17:5: services.a.restart: restart "on-failure": a Deployment's pods always restart`,
				"stack.yaml:20:7: services.a.depends_on.c: service_completed_successfully is not kept: the pods start without waiting for c to finish",
			},
		},
		{
			name:  "deploy restart policy and pids",
			yaml:  "services:\n  a:\n    image: a\n    deploy:\n      restart_policy:\n        condition: on-failure\n        max_attempts: 3\n      resources:\n        limits:\n          pids: 10\n",
			warns: []string{"stack.yaml:10:11: services.a.deploy.resources.limits.pids: ignored: the kubelet's --pod-max-pids applies", `stack.yaml:6:9: services.a.deploy.restart_policy.condition: "on-failure": a Deployment's pods always restart`, "stack.yaml:5:7: services.a.deploy.restart_policy: delay, max_attempts and window are ignored: the kubelet restarts with its own back-off"},
		},
		{
			name:  "ports host ip, ranges and no exposure",
			yaml:  "services:\n  a:\n    image: a\n    ports:\n      - \"127.0.0.1:8080:80\"\n",
			warns: []string{"stack.yaml:5:9: services.a.ports[0]: host_ip 127.0.0.1 is ignored: a Service listens on the cluster's addresses", "stack.yaml:4:5: services.a.ports: published ports are reachable only inside the cluster (as a:PORT): set x-kubernetes.serviceType or x-kubernetes.ingress to expose them"},
		},
		{
			name:  "ipv4 address, networks and volume driver",
			yaml:  "services:\n  a:\n    image: a\n    networks:\n      back:\n        ipv4_address: 172.30.0.5\n    volumes: [v:/v]\nnetworks:\n  back:\n    ipam:\n      config:\n        - subnet: 172.30.0.0/24\nvolumes:\n  v:\n    driver: local\n",
			warns: []string{"stack.yaml:9:3: networks.back: a cluster has one pod network: services on different networks can reach each other (write NetworkPolicies to isolate them)", "stack.yaml:6:9: services.a.networks.back.ipv4_address: ignored: the cluster assigns pod addresses"},
		},
		{
			name:  "alias no DNS label and host gateway",
			yaml:  "services:\n  a:\n    image: a\n    extra_hosts: [\"host.docker.internal:host-gateway\"]\n    networks:\n      default:\n        aliases: [the_a]\n",
			warns: []string{"stack.yaml:4:5: services.a.extra_hosts: host.docker.internal=host-gateway is left out: a pod has no host gateway", `stack.yaml:7:19: services.a.networks.default.aliases[0]: alias "the_a" is no DNS label, so no Service can carry it: left out`},
		},
		{
			name:  "deploy label no Kubernetes label",
			yaml:  "services:\n  a:\n    image: a\n    deploy:\n      labels:\n        com.example.note: \"free text\"\n",
			warns: []string{`stack.yaml:6:9: services.a.deploy.labels.com.example.note: com.example.note="free text" is no valid Kubernetes label: it becomes an annotation`},
		},
		{
			name: "deploy label stack's own",
			yaml: "services:\n  a:\n    image: a\n    deploy:\n      labels:\n        stack.dev/project: other\n",
			errs: []string{"stack.yaml:6:9: services.a.deploy.labels.stack.dev/project: label stack.dev/project is stack's own: remove it"},
		},
		{
			name:  "environment without value",
			yaml:  "services:\n  a:\n    image: a\n    environment:\n      - NOT_SET_ANYWHERE\n",
			warns: []string{"stack.yaml:5:9: services.a.environment.NOT_SET_ANYWHERE: has no value (none was set when the file was loaded): left out"},
		},
		{
			name: "name clash",
			yaml: "services:\n  a:\n    image: a\n    networks:\n      default:\n        aliases: [b]\n  b:\n    image: b\n",
			errs: []string{`stack.yaml:7:3: services.b: makes Service "b", which another part of the stack file makes too: rename one`},
		},
		{
			name: "service type without published ports",
			yaml: "services:\n  a:\n    image: a\n    expose: [\"80\"]\n    x-kubernetes:\n      serviceType: NodePort\n",
			errs: []string{"stack.yaml:6:7: services.a.x-kubernetes.serviceType: NodePort needs published ports (ports: HOST:CONTAINER)"},
		},
		{
			name: "ingress without port",
			yaml: "services:\n  a:\n    image: a\n    x-kubernetes:\n      ingress:\n        host: a.example.test\n",
			errs: []string{"stack.yaml:5:7: services.a.x-kubernetes.ingress: needs a TCP port of the service (ports: or expose:) to send requests to"},
		},
		{
			name: "namespace from project name too long",
			yaml: "name: " + strings.Repeat("n", 64) + "\nservices:\n  a:\n    image: a\n",
			errs: []string{"stack.yaml:1:1: name: namespace \"" + strings.Repeat("n", 64) + "\": must be no more than 63 characters: set x-kubernetes.namespace or --namespace"},
		},
		{
			name: "x-kubernetes volume unknown",
			yaml: "services:\n  a:\n    image: a\nx-kubernetes:\n  volumes:\n    nope:\n      size: 1Gi\n",
			errs: []string{`stack.yaml:6:5: x-kubernetes.volumes.nope: no top-level volume "nope"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if !strings.HasPrefix(tc.yaml, "name:") {
				tc.yaml = "name: t\n" + tc.yaml
				for i := range tc.errs {
					tc.errs[i] = shiftLine(tc.errs[i])
				}
				for i := range tc.warns {
					tc.warns[i] = shiftLine(tc.warns[i])
				}
			}
			write(t, dir, "stack.yaml", tc.yaml)
			for name, content := range tc.files {
				write(t, dir, name, content)
			}
			m, err := convertFiles(t, []string{filepath.Join(dir, "stack.yaml")}, nil)
			clean := func(s string) string {
				return strings.ReplaceAll(strings.ReplaceAll(s, filepath.Join(dir, "stack.yaml"), "stack.yaml"), dir, "DIR")
			}
			var gotErrs []string
			for _, e := range spec.Errors(err) {
				gotErrs = append(gotErrs, clean(e.Error()))
				if tc.notImpl && !errors.Is(e, errdefs.ErrNotImplemented) {
					t.Errorf("%v: does not wrap ErrNotImplemented", e)
				}
				if !errors.Is(e, errdefs.ErrInvalidArgument) {
					t.Errorf("%v: does not wrap ErrInvalidArgument", e)
				}
			}
			if strings.Join(gotErrs, "\n") != strings.Join(tc.errs, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(gotErrs, "\n"), strings.Join(tc.errs, "\n"))
			}
			if err != nil {
				return
			}
			var gotWarns []string
			for _, w := range m.Warnings {
				gotWarns = append(gotWarns, clean(w))
			}
			if strings.Join(gotWarns, "\n") != strings.Join(tc.warns, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(gotWarns, "\n"), strings.Join(tc.warns, "\n"))
			}
		})
	}
}

// shiftLine adds one to the line of "stack.yaml:L:C: ..." for the name:
// line the table prepends.
func shiftLine(s string) string {
	rest, ok := strings.CutPrefix(s, "stack.yaml:")
	if !ok {
		return s
	}
	line, tail, _ := strings.Cut(rest, ":")
	n := 0
	for _, r := range line {
		n = n*10 + int(r-'0')
	}
	return "stack.yaml:" + itoa(n+1) + ":" + tail
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
