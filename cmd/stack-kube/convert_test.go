package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// convertStack is the stack file of the convert tests: a web server, a
// database with a password (a Secret) and a volume of its own, a
// top-level secret, and a debug shell in profile debug.
const convertStack = `name: shop
services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
    depends_on: [db]
  db:
    image: mariadb:11
    environment:
      MARIADB_PASSWORD: pw
    secrets: [db_root]
    volumes:
      - data:/var/lib/mysql
  debug:
    image: busybox
    profiles: [debug]
    command: ["sleep", "infinity"]
volumes:
  data:
secrets:
  db_root:
    content: root-password
`

// stackKube runs the command in-process with args after -f FILE, and
// returns its exit code, stdout and stderr.
func stackKube(t *testing.T, file string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"-f", file}, args...), strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeStack(t *testing.T) string {
	t.Helper()
	t.Setenv("COMPOSE_PROFILES", "")
	file := filepath.Join(t.TempDir(), "stack.yaml")
	if err := os.WriteFile(file, []byte(convertStack), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// object is the part of a manifest the tests look at.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
}

func (o object) key() string { return o.Kind + "/" + o.Metadata.Name }

// parseStream parses a multi-document YAML stream, one object per
// document, and fails t on a document that is not an object.
func parseStream(t *testing.T, stream string) []object {
	t.Helper()
	var out []object
	for i, doc := range strings.Split(stream, "\n---\n") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("document %d does not parse: %v\n%s", i, err, doc)
		}
		if o.Kind == "" || o.Metadata.Name == "" {
			t.Fatalf("document %d is no object:\n%s", i, doc)
		}
		out = append(out, o)
	}
	return out
}

func keys(objs []object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.key())
	}
	return out
}

// TestConvertStdout checks that -o - (the default) prints one YAML stream
// of every object, in apply order, that parses back, each in the project's
// namespace with the project's label, and nothing else on stdout.
func TestConvertStdout(t *testing.T) {
	file := writeStack(t)
	for _, args := range [][]string{{"convert", "--to", "kubernetes", "-o", "-"}, {"convert"}, {"convert", "--to", "k8s"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := stackKube(t, file, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			objs := parseStream(t, stdout)
			want := []string{
				"Namespace/shop", "Secret/db-env", "Secret/db-root", "Service/db", "Service/web",
				"StatefulSet/db", "Deployment/web",
			}
			if got := keys(objs); !slices.Equal(got, want) {
				t.Errorf("objects %v, want %v", got, want)
			}
			for _, o := range objs {
				if o.Kind != "Namespace" && o.Metadata.Namespace != "shop" {
					t.Errorf("%s: namespace %q, want shop", o.key(), o.Metadata.Namespace)
				}
				if o.Metadata.Labels["stack.dev/project"] != "shop" {
					t.Errorf("%s: labels %v, want stack.dev/project=shop", o.key(), o.Metadata.Labels)
				}
			}
		})
	}
}

// TestConvertDir checks that -o DIR writes one file per object, named in
// apply order, each holding that object alone, the Secrets readable by
// their owner only; and that the files hold what -o - prints.
func TestConvertDir(t *testing.T) {
	file := writeStack(t)
	dir := filepath.Join(t.TempDir(), "manifests")
	code, stdout, stderr := stackKube(t, file, "convert", "--to", "kubernetes", "-o", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	// The conversion's warnings, then what was written.
	want := "warning: " + file + ":5:5: services.web.ports: published ports are reachable only inside the cluster (as web:PORT): set x-kubernetes.serviceType or x-kubernetes.ingress to expose them\n" +
		"wrote 7 manifests to " + dir + "\n"
	if stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names, docs []string
	for _, e := range entries {
		names = append(names, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
		objs := parseStream(t, string(b))
		if len(objs) != 1 {
			t.Errorf("%s: %d objects, want 1", e.Name(), len(objs))
			continue
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if objs[0].Kind == "Secret" {
			mode = 0o600
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s (%s): mode %v, want %v", e.Name(), objs[0].key(), fi.Mode().Perm(), mode)
		}
		if !strings.HasSuffix(e.Name(), "-"+strings.ToLower(objs[0].Kind)+"-"+objs[0].Metadata.Name+".yaml") {
			t.Errorf("%s holds %s", e.Name(), objs[0].key())
		}
	}
	wantFiles := []string{
		"00-namespace-shop.yaml", "01-secret-db-env.yaml", "02-secret-db-root.yaml", "03-service-db.yaml",
		"04-service-web.yaml", "05-statefulset-db.yaml", "06-deployment-web.yaml",
	}
	if !slices.Equal(names, wantFiles) {
		t.Errorf("files %v, want %v", names, wantFiles)
	}
	_, stream, _ := stackKube(t, file, "convert", "-o", "-")
	if joined := strings.Join(docs, "---\n"); joined != stream {
		t.Errorf("the files differ from the stream -o - prints:\n%s\nand\n%s", joined, stream)
	}
}

// TestConvertBadTo checks that --to with a format other than kubernetes
// is a usage error (exit 2) that names the value and the one it wants,
// before the stack file is read.
func TestConvertBadTo(t *testing.T) {
	for _, file := range []string{writeStack(t), filepath.Join(t.TempDir(), "none.yaml")} {
		code, stdout, stderr := stackKube(t, file, "convert", "--to", "swarm")
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		if want := "stack: --to \"swarm\": want kubernetes: invalid argument\n"; stderr != want {
			t.Errorf("stderr %q, want %q", stderr, want)
		}
		if stdout != "" {
			t.Errorf("stdout %q, want nothing", stdout)
		}
	}
}

// TestConvertSelect is the table of SERVICE arguments and --profile: which
// services' objects convert prints.
func TestConvertSelect(t *testing.T) {
	file := writeStack(t)
	tests := []struct {
		name    string
		args    []string
		environ string // COMPOSE_PROFILES
		want    []string
	}{
		{name: "all", want: []string{"Service/db", "Service/web", "StatefulSet/db", "Deployment/web"}},
		{name: "service and its dependency", args: []string{"web"}, want: []string{"Service/db", "Service/web", "StatefulSet/db", "Deployment/web"}},
		{name: "service alone", args: []string{"db"}, want: []string{"Service/db", "StatefulSet/db"}},
		{name: "profiled service out", args: []string{"--profile", "other"}, want: []string{"Service/db", "Service/web", "StatefulSet/db", "Deployment/web"}},
		{name: "profile", args: []string{"--profile", "debug"}, want: []string{"Service/db", "Service/debug", "Service/web", "StatefulSet/db", "Deployment/debug", "Deployment/web"}},
		{name: "COMPOSE_PROFILES", environ: "debug", want: []string{"Service/db", "Service/debug", "Service/web", "StatefulSet/db", "Deployment/debug", "Deployment/web"}},
		{name: "profiled service named", args: []string{"debug"}, want: []string{"Service/debug", "Deployment/debug"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("COMPOSE_PROFILES", tc.environ)
			// Global flags go before the command, SERVICE arguments after.
			var pre, post []string
			for i := 0; i < len(tc.args); i++ {
				if tc.args[i] == "--profile" {
					pre = append(pre, tc.args[i], tc.args[i+1])
					i++
					continue
				}
				post = append(post, tc.args[i])
			}
			code, stdout, stderr := stackKube(t, file, append(append(pre, "convert"), post...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var got []string
			for _, o := range parseStream(t, stdout) {
				if o.Kind == "Service" || o.Kind == "Deployment" || o.Kind == "StatefulSet" {
					got = append(got, o.key())
				}
				if s := o.Metadata.Labels["stack.dev/service"]; s != "" && !slices.Contains(tc.want, "Service/"+s) {
					t.Errorf("%s belongs to service %s, which is not selected", o.key(), s)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("objects %v, want %v", got, tc.want)
			}
		})
	}

	// An unknown service is not found (exit 1, as stack's commands),
	// and the error lists the services there are.
	t.Run("unknown service", func(t *testing.T) {
		code, stdout, stderr := stackKube(t, file, "convert", "nosuch")
		want := "stack: service \"nosuch\": not found (known services: db, debug, web)\n"
		if code != 1 || stdout != "" || stderr != want {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, stderr %q", code, stdout, stderr, want)
		}
	})
}
