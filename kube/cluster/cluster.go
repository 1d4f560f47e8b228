package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/kube"
)

// kind is one kind of object stack makes.
type kind struct {
	name       string
	gvr        schema.GroupVersionResource
	namespaced bool
}

// kinds are the kinds stack makes, in apply order; delete walks them
// backwards.
var kinds = []kind{
	{"Namespace", schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, false},
	{"Secret", schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, true},
	{"ConfigMap", schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, true},
	{"PersistentVolumeClaim", schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, true},
	{"Service", schema.GroupVersionResource{Version: "v1", Resource: "services"}, true},
	{"StatefulSet", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}, true},
	{"Deployment", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, true},
	{"Ingress", schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}, true},
}

func kindNamed(name string) (kind, bool) {
	for _, k := range kinds {
		if k.name == name {
			return k, true
		}
	}
	return kind{}, false
}

// Client talks to one cluster. It is safe for concurrent use.
type Client struct {
	dyn dynamic.Interface
	// poll is how often rollouts and deletions are checked.
	poll time.Duration
}

// Config says which cluster to talk to.
type Config struct {
	// Kubeconfig is the kubeconfig file. Optional: $KUBECONFIG, else
	// ~/.kube/config, as kubectl finds it.
	Kubeconfig string
	// Context is the kubeconfig context. Optional: its current context.
	Context string
}

// New returns a client of the cluster cfg names.
func New(cfg Config) (*Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = cfg.Kubeconfig
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	return NewForConfig(rc)
}

// NewForConfig returns a client of the cluster rc describes.
func NewForConfig(rc *rest.Config) (*Client, error) {
	rc = rest.CopyConfig(rc)
	rc.UserAgent = "stack"
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 50, 100
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("cluster client: %w", err)
	}
	return &Client{dyn: dyn, poll: 250 * time.Millisecond}, nil
}

// Event is one step of an operation, for a progress display.
type Event struct {
	Kind   string // Deployment, Service, ...
	Name   string
	Action string // Created, Configured, Unchanged, Waiting, Ready, Pruned, Deleted
}

// resource returns the client of objects of kind k in namespace ns.
func (c *Client) resource(k kind, ns string) dynamic.ResourceInterface {
	if k.namespaced {
		return c.dyn.Resource(k.gvr).Namespace(ns)
	}
	return c.dyn.Resource(k.gvr)
}

// selector selects the objects of project.
func selector(project string) string {
	return kube.LabelManagedBy + "=stack," + kube.LabelProject + "=" + project
}

// classify wraps err with the errdefs class the API error stands for.
func classify(err error) error {
	var netErr net.Error
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
		return fmt.Errorf("%w: %w", err, errdefs.ErrAlreadyExists)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	case apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), errors.As(err, &netErr):
		return fmt.Errorf("%w: %w", err, errdefs.ErrUnavailable)
	}
	return err
}

// ApplyOptions tune [Client.Apply].
type ApplyOptions struct {
	// Wait waits until the workloads have rolled out. Optional.
	Wait bool
	// Timeout bounds the wait. Optional: 5 minutes.
	Timeout time.Duration
	// Prune deletes the project's objects the manifests no longer hold.
	// Optional.
	Prune bool
	// Progress is called for each step. Optional.
	Progress func(Event)
}

func (o *ApplyOptions) progress(kind, name, action string) {
	if o.Progress != nil {
		o.Progress(Event{Kind: kind, Name: name, Action: action})
	}
}

// Apply applies m with server-side apply: see the package doc.
func (c *Client) Apply(ctx context.Context, m *kube.Manifests, opts ApplyOptions) error {
	objs, err := m.Unstructured()
	if err != nil {
		return err
	}
	desired := map[string]bool{}
	var workloads []*unstructured.Unstructured
	for _, o := range objs {
		k, ok := kindNamed(o.GetKind())
		if !ok {
			return fmt.Errorf("apply %s %s: kind not known: %w", o.GetKind(), o.GetName(), errdefs.ErrNotImplemented)
		}
		r := c.resource(k, m.Namespace)
		before, err := r.Get(ctx, o.GetName(), metav1.GetOptions{})
		existed := err == nil
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("apply %s %s: %w", k.name, o.GetName(), classify(err))
		}
		if k.name == "Namespace" && existed && before.GetLabels()[kube.LabelProject] != m.Project {
			// A namespace that was there before (default, a team's, another
			// project's) stays as it is: labelled as the project's, it
			// would be Delete's to remove, with all else it holds.
			opts.progress(k.name, o.GetName(), "Unchanged")
			desired[k.name+"/"+o.GetName()] = true
			continue
		}
		after, err := r.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: kube.FieldManager, Force: true})
		if err != nil {
			return fmt.Errorf("apply %s %s: %w", k.name, o.GetName(), classify(err))
		}
		switch {
		case !existed:
			opts.progress(k.name, o.GetName(), "Created")
		case before.GetResourceVersion() == after.GetResourceVersion():
			opts.progress(k.name, o.GetName(), "Unchanged")
		default:
			opts.progress(k.name, o.GetName(), "Configured")
		}
		desired[k.name+"/"+o.GetName()] = true
		if k.name == "Deployment" || k.name == "StatefulSet" {
			workloads = append(workloads, after)
		}
	}
	if opts.Prune {
		if err := c.prune(ctx, m, desired, &opts); err != nil {
			return err
		}
	}
	if !opts.Wait {
		return nil
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, w := range workloads {
		if err := c.waitRollout(ctx, w, &opts); err != nil {
			return err
		}
	}
	return nil
}

// prune deletes the objects of m's project that it no longer holds, but
// claims (data is removed only by Delete).
func (c *Client) prune(ctx context.Context, m *kube.Manifests, desired map[string]bool, opts *ApplyOptions) error {
	for i := len(kinds) - 1; i >= 0; i-- {
		k := kinds[i]
		if !k.namespaced || k.name == "PersistentVolumeClaim" {
			continue
		}
		list, err := c.resource(k, m.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector(m.Project)})
		if err != nil {
			return fmt.Errorf("prune %s: %w", k.gvr.Resource, classify(err))
		}
		for _, o := range list.Items {
			if desired[k.name+"/"+o.GetName()] {
				continue
			}
			err := c.resource(k, m.Namespace).Delete(ctx, o.GetName(), metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground)})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("prune %s %s: %w", k.name, o.GetName(), classify(err))
			}
			opts.progress(k.name, o.GetName(), "Pruned")
		}
	}
	return nil
}

// waitRollout waits until workload w has rolled out.
func (c *Client) waitRollout(ctx context.Context, w *unstructured.Unstructured, opts *ApplyOptions) error {
	k, _ := kindNamed(w.GetKind())
	r := c.resource(k, w.GetNamespace())
	waiting := false
	for {
		cur, err := r.Get(ctx, w.GetName(), metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("wait for %s %s: %w", k.name, w.GetName(), classify(err))
		}
		done, why := rolledOut(cur)
		if done {
			opts.progress(k.name, w.GetName(), "Ready")
			return nil
		}
		if !waiting {
			opts.progress(k.name, w.GetName(), "Waiting")
			waiting = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s %s: %s: %w", k.name, w.GetName(), why, errdefs.ErrUnavailable)
		case <-time.After(c.poll):
		}
	}
}

// rolledOut says whether a Deployment or StatefulSet has rolled out, and
// if not, why not.
func rolledOut(o *unstructured.Unstructured) (bool, string) {
	gen := o.GetGeneration()
	observed, _, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration")
	want, found, _ := unstructured.NestedInt64(o.Object, "spec", "replicas")
	if !found {
		want = 1
	}
	num := func(f string) int64 {
		n, _, _ := unstructured.NestedInt64(o.Object, "status", f)
		return n
	}
	switch {
	case observed < gen:
		return false, fmt.Sprintf("generation %d not observed yet", gen)
	case num("updatedReplicas") < want:
		return false, fmt.Sprintf("%d of %d replicas updated", num("updatedReplicas"), want)
	case num("readyReplicas") < want:
		return false, fmt.Sprintf("%d of %d replicas ready", num("readyReplicas"), want)
	case num("availableReplicas") < want:
		return false, fmt.Sprintf("%d of %d replicas available", num("availableReplicas"), want)
	case num("replicas") > want:
		return false, fmt.Sprintf("%d old replicas still running", num("replicas")-want)
	}
	if o.GetKind() == "StatefulSet" {
		cur, _, _ := unstructured.NestedString(o.Object, "status", "currentRevision")
		upd, _, _ := unstructured.NestedString(o.Object, "status", "updateRevision")
		if cur != upd {
			return false, "revision " + upd + " not rolled out yet"
		}
	}
	return true, ""
}

// DeleteOptions tune [Client.Delete].
type DeleteOptions struct {
	// KeepVolumes keeps the claims (and so the data), as `stack down`
	// without -v does. Optional.
	KeepVolumes bool
	// Timeout bounds the wait until everything is gone. Optional: 5
	// minutes.
	Timeout time.Duration
	// Progress is called for each object deleted. Optional.
	Progress func(Event)
}

// Delete deletes every object of project in namespace, then the namespace
// if stack made it for the project, and waits until they are gone.
func (c *Client) Delete(ctx context.Context, project, namespace string, opts DeleteOptions) error {
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var errs []error
	var pending []kind
	for i := len(kinds) - 1; i >= 1; i-- {
		k := kinds[i]
		if opts.KeepVolumes && k.name == "PersistentVolumeClaim" {
			continue
		}
		list, err := c.resource(k, namespace).List(ctx, metav1.ListOptions{LabelSelector: selector(project)})
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", k.gvr.Resource, classify(err)))
			continue
		}
		for _, o := range list.Items {
			err := c.resource(k, namespace).Delete(ctx, o.GetName(), metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationForeground)})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete %s %s: %w", k.name, o.GetName(), classify(err)))
				continue
			}
			if opts.Progress != nil {
				opts.Progress(Event{Kind: k.name, Name: o.GetName(), Action: "Deleted"})
			}
		}
		pending = append(pending, k)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, k := range pending {
		if err := c.waitGone(ctx, k, namespace, selector(project)); err != nil {
			return err
		}
	}
	if opts.KeepVolumes {
		return nil
	}
	ns, err := c.resource(kinds[0], "").Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get namespace %s: %w", namespace, classify(err))
	case ns.GetLabels()[kube.LabelProject] != project:
		return nil // not stack's, or another project's: leave it
	}
	if err := c.resource(kinds[0], "").Delete(ctx, namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", namespace, classify(err))
	}
	if opts.Progress != nil {
		opts.Progress(Event{Kind: "Namespace", Name: namespace, Action: "Deleted"})
	}
	for {
		_, err := c.resource(kinds[0], "").Get(ctx, namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for namespace %s to go: %w", namespace, errdefs.ErrUnavailable)
		case <-time.After(c.poll):
		}
	}
}

// waitGone waits until no object of kind k matches sel.
func (c *Client) waitGone(ctx context.Context, k kind, namespace, sel string) error {
	for {
		list, err := c.resource(k, namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return fmt.Errorf("list %s: %w", k.gvr.Resource, classify(err))
		}
		if len(list.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s %s to go: %w", k.name, list.Items[0].GetName(), errdefs.ErrUnavailable)
		case <-time.After(c.poll):
		}
	}
}

// Status is the state of one object of a project.
type Status struct {
	Kind string
	Name string
	// Ready is "READY/WANTED" for a workload, the phase of a claim, the
	// cluster IP of a Service, and "" otherwise.
	Ready string
}

// Status lists the objects of project in namespace, by kind then name.
func (c *Client) Status(ctx context.Context, project, namespace string) ([]Status, error) {
	var out []Status
	for _, k := range kinds[1:] {
		list, err := c.resource(k, namespace).List(ctx, metav1.ListOptions{LabelSelector: selector(project)})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k.gvr.Resource, classify(err))
		}
		sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].GetName() < list.Items[j].GetName() })
		for _, o := range list.Items {
			s := Status{Kind: k.name, Name: o.GetName()}
			switch k.name {
			case "Deployment", "StatefulSet":
				want, found, _ := unstructured.NestedInt64(o.Object, "spec", "replicas")
				if !found {
					want = 1
				}
				ready, _, _ := unstructured.NestedInt64(o.Object, "status", "readyReplicas")
				s.Ready = fmt.Sprintf("%d/%d", ready, want)
			case "PersistentVolumeClaim":
				s.Ready, _, _ = unstructured.NestedString(o.Object, "status", "phase")
			case "Service":
				s.Ready, _, _ = unstructured.NestedString(o.Object, "spec", "clusterIP")
			}
			out = append(out, s)
		}
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }
