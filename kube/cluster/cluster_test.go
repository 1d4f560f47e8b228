package cluster_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/stack-dev/stack/kube"
	"github.com/stack-dev/stack/kube/cluster"
	"github.com/stack-dev/stack/kube/kubetest"
	"github.com/stack-dev/stack/planner"
	"github.com/stack-dev/stack/spec"
)

// stacks are the stack files applied to the real API server.
var stacks = []struct {
	name    string
	files   []string
	environ []string
	// change is the service whose environment the second apply changes.
	change string
	// claims is how many standalone PersistentVolumeClaims (volumes that
	// several services share) the stack has.
	claims int
}{
	{name: "hello", files: []string{"../../examples/hello/stack.yaml"}, change: "client"},
	{name: "lemp", files: []string{"../../examples/lemp/stack.yaml", "../../examples/kube/lemp/stack.yaml"}, change: "php"},
	{name: "wordpress", files: []string{"../../examples/kube/wordpress/stack.yaml"}, change: "wordpress"},
	{name: "django", files: []string{"../../examples/kube/django/stack.yaml"}, change: "worker"},
	{name: "replicas", files: []string{"../../examples/kube/replicas/stack.yaml"}, change: "api"},
	{name: "secrets", files: []string{"../../examples/kube/secrets/stack.yaml"}, environ: []string{"APP_TLS_KEY=not-a-real-key"}, change: "app"},
	{name: "uploads", files: []string{"testdata/uploads/stack.yaml"}, change: "thumbnailer", claims: 1},
}

func load(t *testing.T, files, environ []string) *spec.Project {
	t.Helper()
	p, err := spec.Load(spec.LoadOptions{Files: files, Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	sel, err := planner.Select(p, planner.SelectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return planner.Restrict(p, sel)
}

func convert(t *testing.T, p *spec.Project, environ []string) *kube.Manifests {
	t.Helper()
	m, err := kube.Convert(p, kube.Options{Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var gvr = map[string]schema.GroupVersionResource{
	"Namespace":             {Version: "v1", Resource: "namespaces"},
	"Secret":                {Version: "v1", Resource: "secrets"},
	"ConfigMap":             {Version: "v1", Resource: "configmaps"},
	"PersistentVolumeClaim": {Version: "v1", Resource: "persistentvolumeclaims"},
	"Service":               {Version: "v1", Resource: "services"},
	"StatefulSet":           {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"Deployment":            {Group: "apps", Version: "v1", Resource: "deployments"},
	"Ingress":               {Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	"ReplicaSet":            {Group: "apps", Version: "v1", Resource: "replicasets"},
	"Pod":                   {Version: "v1", Resource: "pods"},
	"EndpointSlice":         {Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
}

// recorder collects the progress events of an operation.
type recorder struct {
	mu     sync.Mutex
	events []cluster.Event
}

func (r *recorder) add(ev cluster.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// actions maps "Kind/name" to the actions it went through.
func (r *recorder) actions() map[string][]string {
	out := map[string][]string{}
	for _, ev := range r.events {
		out[ev.Kind+"/"+ev.Name] = append(out[ev.Kind+"/"+ev.Name], ev.Action)
	}
	return out
}

// TestClusterAcceptance applies each stack file to a real API server with
// controller-manager, scheduler and kwok, and checks that every object is
// accepted, the workloads roll out to Ready, the claims bind (claim
// templates' and standalone ones, a volume two services share), the
// EndpointSlices list the pods, a second unchanged apply changes nothing,
// a change rolls out only the service it touches, and kube delete removes
// everything; then that an apply without one of the services prunes its
// objects (testPrune), and the commands (testCLI).
func TestClusterAcceptance(t *testing.T) {
	cp := kubetest.Start(t)
	rc, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			p := load(t, st.files, st.environ)
			m := convert(t, p, st.environ)
			if n := countKind(m, "PersistentVolumeClaim"); n != st.claims {
				t.Fatalf("%d standalone claims, want %d", n, st.claims)
			}

			start := time.Now()
			var first recorder
			if err := c.Apply(ctx, m, cluster.ApplyOptions{Wait: true, Prune: true, Timeout: 3 * time.Minute, Progress: first.add}); err != nil {
				t.Fatalf("apply: %v", err)
			}
			t.Logf("first apply and rollout of %d objects: %v", len(m.Objects), time.Since(start).Round(time.Millisecond))
			objs, _ := m.Unstructured()
			for _, o := range objs {
				key := o.GetKind() + "/" + o.GetName()
				if got := first.actions()[key]; len(got) == 0 || got[0] != "Created" {
					t.Errorf("%s: actions %v, want Created first", key, got)
				}
				if o.GetKind() == "Deployment" || o.GetKind() == "StatefulSet" {
					if got := first.actions()[key]; got[len(got)-1] != "Ready" {
						t.Errorf("%s: actions %v, want Ready last", key, got)
					}
				}
			}
			checkClaimsBound(ctx, t, dyn, m)
			checkEndpointSlices(ctx, t, dyn, m, objs)

			// A second apply of the same file changes nothing.
			gens := generations(ctx, t, dyn, m)
			var second recorder
			if err := c.Apply(ctx, m, cluster.ApplyOptions{Wait: true, Prune: true, Progress: second.add}); err != nil {
				t.Fatalf("second apply: %v", err)
			}
			for key, acts := range second.actions() {
				if acts[0] != "Unchanged" {
					t.Errorf("second apply: %s: %v, want Unchanged", key, acts)
				}
			}
			if after := generations(ctx, t, dyn, m); fmt.Sprint(after) != fmt.Sprint(gens) {
				t.Errorf("second apply changed generations: %v, then %v", gens, after)
			}

			// A change to one service's environment rolls out that service
			// only: its ConfigMap and workload change, nothing else.
			changed := *p.Services[st.change]
			changed.Environment = map[string]*string{"STACK_TEST_CHANGE": ptr("2")}
			for k, v := range p.Services[st.change].Environment {
				changed.Environment[k] = v
			}
			p.Services[st.change] = &changed
			m2 := convert(t, p, st.environ)
			var third recorder
			if err := c.Apply(ctx, m2, cluster.ApplyOptions{Wait: true, Prune: true, Timeout: 3 * time.Minute, Progress: third.add}); err != nil {
				t.Fatalf("apply after a change: %v", err)
			}
			workload := workloadKind(m2, st.change) + "/" + st.change
			for key, acts := range third.actions() {
				want := "Unchanged"
				if key == workload || key == "ConfigMap/"+st.change+"-env" {
					want = "Configured"
					if key == "ConfigMap/"+st.change+"-env" && acts[0] == "Created" {
						want = "Created"
					}
				}
				if acts[0] != want {
					t.Errorf("apply after a change: %s: %v, want %s", key, acts, want)
				}
			}
			after := generations(ctx, t, dyn, m2)
			for key, g := range after {
				if key == workload {
					if g <= gens[key] {
						t.Errorf("%s: generation %d, then %d: want a new one", key, gens[key], g)
					}
				} else if g != gens[key] {
					t.Errorf("%s: generation %d, then %d: want it unchanged", key, gens[key], g)
				}
			}

			// Delete removes everything: every object of the project, and
			// the namespace stack made.
			start = time.Now()
			if err := c.Delete(ctx, m.Project, m.Namespace, cluster.DeleteOptions{Timeout: 3 * time.Minute}); err != nil {
				t.Fatalf("delete: %v", err)
			}
			t.Logf("delete: %v", time.Since(start).Round(time.Millisecond))
			for kind, r := range gvr {
				if kind == "Namespace" {
					continue
				}
				list, err := dyn.Resource(r).Namespace(m.Namespace).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelProject + "=" + m.Project})
				if err != nil {
					t.Fatal(err)
				}
				if len(list.Items) > 0 {
					t.Errorf("after delete: %d %s left (%s)", len(list.Items), kind, list.Items[0].GetName())
				}
			}
			if _, err := dyn.Resource(gvr["Namespace"]).Get(ctx, m.Namespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("after delete: namespace %s: %v, want not found", m.Namespace, err)
			}
		})
	}

	t.Run("prune", func(t *testing.T) { testPrune(ctx, t, c, dyn) })
	t.Run("cli", func(t *testing.T) { testCLI(ctx, t, cp.Kubeconfig, dyn) })
}

func countKind(m *kube.Manifests, kind string) int {
	objs, _ := m.Unstructured()
	n := 0
	for _, o := range objs {
		if o.GetKind() == kind {
			n++
		}
	}
	return n
}

// objectKeys returns "Kind/name" of each object of m.
func objectKeys(m *kube.Manifests) map[string]bool {
	objs, _ := m.Unstructured()
	out := map[string]bool{}
	for _, o := range objs {
		out[o.GetKind()+"/"+o.GetName()] = true
	}
	return out
}

// testPrune applies examples/kube/django, then the same project without
// its worker service: the worker's objects (and only they) are reported
// Pruned and are gone from the API server, its pods with them, and every
// other object is Unchanged.
func testPrune(ctx context.Context, t *testing.T, c *cluster.Client, dyn dynamic.Interface) {
	files := []string{"../../examples/kube/django/stack.yaml"}
	p := load(t, files, nil)
	m := convert(t, p, nil)
	if err := c.Apply(ctx, m, cluster.ApplyOptions{Wait: true, Prune: true, Timeout: 3 * time.Minute}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Delete(context.Background(), m.Project, m.Namespace, cluster.DeleteOptions{Timeout: 3 * time.Minute}); err != nil {
			t.Errorf("delete: %v", err)
		}
	})

	p2 := load(t, files, nil)
	delete(p2.Services, "worker")
	m2 := convert(t, p2, nil)
	before, after := objectKeys(m), objectKeys(m2)
	var gone []string
	for key := range before {
		if !after[key] {
			gone = append(gone, key)
		}
	}
	sort.Strings(gone)
	for _, key := range []string{"Deployment/worker", "Service/worker", "ConfigMap/worker-env"} {
		if !before[key] || after[key] {
			t.Fatalf("%s: in the first manifests %v, in the second %v: the test's premise is wrong", key, before[key], after[key])
		}
	}

	var rec recorder
	if err := c.Apply(ctx, m2, cluster.ApplyOptions{Wait: true, Prune: true, Timeout: 3 * time.Minute, Progress: rec.add}); err != nil {
		t.Fatalf("apply without worker: %v", err)
	}
	var pruned []string
	for key, acts := range rec.actions() {
		switch {
		case slices.Contains(acts, "Pruned"):
			pruned = append(pruned, key)
			if len(acts) != 1 {
				t.Errorf("%s: %v, want Pruned alone", key, acts)
			}
		case !after[key]:
			t.Errorf("%s: %v: an object of neither apply", key, acts)
		case acts[0] != "Unchanged":
			t.Errorf("%s: %v, want Unchanged", key, acts)
		}
	}
	sort.Strings(pruned)
	if fmt.Sprint(pruned) != fmt.Sprint(gone) {
		t.Errorf("pruned %v, want the worker's objects %v", pruned, gone)
	}
	for key := range after {
		if len(rec.actions()[key]) == 0 {
			t.Errorf("%s: no event", key)
		}
	}
	for _, key := range gone {
		kind, name, _ := strings.Cut(key, "/")
		if _, err := dyn.Resource(gvr[kind]).Namespace(m.Namespace).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s after prune: %v, want not found", key, err)
		}
	}
	for key := range after {
		kind, name, _ := strings.Cut(key, "/")
		r := dyn.Resource(gvr[kind])
		var err error
		if kind == "Namespace" {
			_, err = r.Get(ctx, name, metav1.GetOptions{})
		} else {
			_, err = r.Namespace(m.Namespace).Get(ctx, name, metav1.GetOptions{})
		}
		if err != nil {
			t.Errorf("%s after prune: %v, want it kept", key, err)
		}
	}
	// The garbage collector takes the pruned Deployment's ReplicaSets and
	// pods; the other services keep theirs.
	deadline := time.Now().Add(time.Minute)
	for {
		left := 0
		for _, kind := range []string{"ReplicaSet", "Pod"} {
			list, err := dyn.Resource(gvr[kind]).Namespace(m.Namespace).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelService + "=worker"})
			if err != nil {
				t.Fatal(err)
			}
			left += len(list.Items)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ReplicaSets and pods of worker left a minute after prune", left)
		}
		time.Sleep(250 * time.Millisecond)
	}
	pods, err := dyn.Resource(gvr["Pod"]).Namespace(m.Namespace).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelService + "=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 2 {
		t.Errorf("web has %d pods after prune, want its 2", len(pods.Items))
	}
}

func ptr[T any](v T) *T { return &v }

func workloadKind(m *kube.Manifests, service string) string {
	objs, _ := m.Unstructured()
	for _, o := range objs {
		if o.GetName() == service && (o.GetKind() == "Deployment" || o.GetKind() == "StatefulSet") {
			return o.GetKind()
		}
	}
	return ""
}

// generations returns the generation of each workload of m.
func generations(ctx context.Context, t *testing.T, dyn dynamic.Interface, m *kube.Manifests) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, kind := range []string{"Deployment", "StatefulSet"} {
		list, err := dyn.Resource(gvr[kind]).Namespace(m.Namespace).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelProject + "=" + m.Project})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			out[kind+"/"+o.GetName()] = o.GetGeneration()
		}
	}
	return out
}

// checkClaimsBound waits until every claim of the project (standalone or
// from a StatefulSet's templates) is Bound, and checks that each
// StatefulSet replica has its own.
func checkClaimsBound(ctx context.Context, t *testing.T, dyn dynamic.Interface, m *kube.Manifests) {
	t.Helper()
	want := 0
	objs, _ := m.Unstructured()
	for _, o := range objs {
		switch o.GetKind() {
		case "PersistentVolumeClaim":
			want++
		case "StatefulSet":
			replicas, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas")
			tmpls, _, _ := unstructured.NestedSlice(o.Object, "spec", "volumeClaimTemplates")
			want += int(replicas) * len(tmpls)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		list, err := dyn.Resource(gvr["PersistentVolumeClaim"]).Namespace(m.Namespace).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelProject + "=" + m.Project})
		if err != nil {
			t.Fatal(err)
		}
		bound := 0
		var phases []string
		for _, o := range list.Items {
			phase, _, _ := unstructured.NestedString(o.Object, "status", "phase")
			phases = append(phases, o.GetName()+"="+phase)
			if phase == "Bound" {
				bound++
			}
		}
		if len(list.Items) == want && bound == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("claims: want %d bound, have %v", want, phases)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkEndpointSlices checks that each Service's EndpointSlices list the
// ready pods of its service, by pod name (their addresses are never used).
func checkEndpointSlices(ctx context.Context, t *testing.T, dyn dynamic.Interface, m *kube.Manifests, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "Service" {
			continue
		}
		sel, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector")
		var parts []string
		for k, v := range sel {
			parts = append(parts, k+"="+v)
		}
		sort.Strings(parts)
		deadline := time.Now().Add(time.Minute)
		for {
			pods, err := dyn.Resource(gvr["Pod"]).Namespace(m.Namespace).List(ctx, metav1.ListOptions{LabelSelector: strings.Join(parts, ",")})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for _, p := range pods.Items {
				if p.GetDeletionTimestamp() == nil && podReady(&p) {
					want[p.GetName()] = true
				}
			}
			slices, err := dyn.Resource(gvr["EndpointSlice"]).Namespace(m.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + o.GetName()})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, s := range slices.Items {
				eps, _, _ := unstructured.NestedSlice(s.Object, "endpoints")
				for _, e := range eps {
					em, _ := e.(map[string]any)
					ready, _, _ := unstructured.NestedBool(em, "conditions", "ready")
					name, _, _ := unstructured.NestedString(em, "targetRef", "name")
					if ready {
						got[name] = true
					}
				}
			}
			if len(want) > 0 && fmt.Sprint(got) == fmt.Sprint(want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Service %s: EndpointSlices list %v, want the ready pods %v", o.GetName(), got, want)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}

func podReady(p *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditions")
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		if cm["type"] == "Ready" && cm["status"] == "True" {
			return true
		}
	}
	return false
}

// testCLI runs the stack binary's kube commands on examples/hello: stack
// runs them through stack-kube beside it, as make build installs both.
// With --namespace the objects go to that namespace: one stack makes (and
// delete removes), or one that was there before (which delete leaves, with
// what else it holds).
func testCLI(ctx context.Context, t *testing.T, kubeconfig string, dyn dynamic.Interface) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "stack")
	for out, pkg := range map[string]string{bin: "../../cmd/stack", filepath.Join(dir, "stack-kube"): "../../cmd/stack-kube"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v: %s", pkg, err, b)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"-f", "../../examples/hello/stack.yaml"}, args...)...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("stack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run("kube", "apply", "--timeout", "3m")
	for _, want := range []string{" Namespace hello  Created", " Deployment web  Ready", " Deployment client  Ready"} {
		if !strings.Contains(out, want) {
			t.Errorf("kube apply: no %q in\n%s", want, out)
		}
	}
	out = run("kube", "status", "--kubeconfig", kubeconfig)
	for _, want := range []string{"Deployment   web", "1/1"} {
		if !strings.Contains(out, want) {
			t.Errorf("kube status: no %q in\n%s", want, out)
		}
	}
	out = run("kube", "delete")
	if !strings.Contains(out, " Namespace hello  Deleted") {
		t.Errorf("kube delete: no namespace deleted in\n%s", out)
	}

	t.Run("namespace", func(t *testing.T) {
		testCLINamespace(ctx, t, run, dyn, "hello-elsewhere", false)
	})
	t.Run("existing namespace", func(t *testing.T) {
		ns := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "team"},
		}}
		if _, err := dyn.Resource(gvr["Namespace"]).Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		theirs := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "theirs"}, "data": map[string]any{"k": "v"},
		}}
		if _, err := dyn.Resource(gvr["ConfigMap"]).Namespace("team").Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		testCLINamespace(ctx, t, run, dyn, "team", true)
		got, err := dyn.Resource(gvr["Namespace"]).Get(ctx, "team", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("namespace team after kube delete: %v, want it kept", err)
		}
		if _, ok := got.GetLabels()[kube.LabelProject]; ok {
			t.Errorf("namespace team: labels %v: stack labelled a namespace it did not make", got.GetLabels())
		}
		if _, err := dyn.Resource(gvr["ConfigMap"]).Namespace("team").Get(ctx, "theirs", metav1.GetOptions{}); err != nil {
			t.Errorf("ConfigMap team/theirs after kube delete: %v, want it kept", err)
		}
	})
}

// testCLINamespace runs kube apply, status and delete with --namespace ns
// (-n for status), and checks that the objects land in ns and nowhere
// else, that status shows them there only, and that delete removes them
// (and ns with them unless it existed before).
func testCLINamespace(ctx context.Context, t *testing.T, run func(...string) string, dyn dynamic.Interface, ns string, existed bool) {
	t.Helper()
	out := run("kube", "apply", "--namespace", ns, "--timeout", "3m")
	for _, want := range []string{" Deployment web  Ready", " Deployment client  Ready"} {
		if !strings.Contains(out, want) {
			t.Errorf("kube apply --namespace %s: no %q in\n%s", ns, want, out)
		}
	}
	if created := " Namespace " + ns + "  Created"; strings.Contains(out, created) == existed {
		t.Errorf("kube apply --namespace %s (namespace there before: %v): %q in\n%s", ns, existed, created, out)
	}
	for _, key := range []string{"Deployment/web", "Deployment/client", "Service/web", "Service/client"} {
		kind, name, _ := strings.Cut(key, "/")
		o, err := dyn.Resource(gvr[kind]).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("%s in %s: %v", key, ns, err)
			continue
		}
		if o.GetLabels()[kube.LabelProject] != "hello" {
			t.Errorf("%s in %s: labels %v, want project hello", key, ns, o.GetLabels())
		}
	}
	if _, err := dyn.Resource(gvr["Namespace"]).Get(ctx, "hello", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace hello with --namespace %s: %v, want not found", ns, err)
	}

	out = run("kube", "status", "-n", ns)
	for _, want := range []string{"Deployment   web", "Deployment   client", "1/1"} {
		if !strings.Contains(out, want) {
			t.Errorf("kube status -n %s: no %q in\n%s", ns, want, out)
		}
	}
	if out := run("kube", "status"); strings.Contains(out, "Deployment") {
		t.Errorf("kube status without -n shows objects of namespace %s:\n%s", ns, out)
	}

	out = run("kube", "delete", "--namespace", ns)
	if !strings.Contains(out, " Deployment web  Deleted") {
		t.Errorf("kube delete --namespace %s: no Deployment deleted in\n%s", ns, out)
	}
	if deleted := " Namespace " + ns + "  Deleted"; strings.Contains(out, deleted) == existed {
		t.Errorf("kube delete --namespace %s (namespace there before: %v): %q in\n%s", ns, existed, deleted, out)
	}
	for kind, r := range gvr {
		if kind == "Namespace" {
			continue
		}
		list, err := dyn.Resource(r).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelProject + "=hello"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 0 {
			t.Errorf("after kube delete --namespace %s: %d %s left (%s)", ns, len(list.Items), kind, list.Items[0].GetName())
		}
	}
	if _, err := dyn.Resource(gvr["Namespace"]).Get(ctx, ns, metav1.GetOptions{}); !existed && !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s after kube delete: %v, want not found", ns, err)
	}
}
