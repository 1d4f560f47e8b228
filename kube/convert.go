package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/spec"
)

// The labels and annotations every object stack makes carries. The project
// and service labels select a service's pods and find what a project owns
// when it is applied again (prune), deleted or shown.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelProject   = "stack.dev/project"
	LabelService   = "stack.dev/service"
	// AnnotationConfigHash on a pod template is the hash of the ConfigMaps
	// and Secrets its pods read, so that a change of their data rolls the
	// pods (Kubernetes does not restart pods for a changed ConfigMap).
	AnnotationConfigHash = "stack.dev/config-hash"
	// FieldManager is the server-side apply field manager.
	FieldManager = "stack"
	managedBy    = "stack"
)

// DefaultWaitImage is the image of the init containers that wait for a
// depends_on: service_healthy dependency (they need sh, nc and nslookup).
const DefaultWaitImage = "busybox:1.37"

// DefaultVolumeSize is the size a PersistentVolumeClaim asks for when
// x-kubernetes.volumes.NAME.size does not say.
const DefaultVolumeSize = "1Gi"

// Options tune [Convert]. The zero value is valid.
type Options struct {
	// Namespace overrides x-kubernetes.namespace and the project name as
	// the namespace of every object. Optional.
	Namespace string
	// Environ is the environment that secrets and configs with
	// environment: read, as os.Environ returns it. Optional.
	Environ []string
	// WaitImage is the image of the init containers that wait for healthy
	// dependencies. Optional: DefaultWaitImage.
	WaitImage string
}

// Manifests are the Kubernetes objects of a stack, in the order they are
// applied: the Namespace, Secrets, ConfigMaps, PersistentVolumeClaims,
// Services, StatefulSets, Deployments and Ingresses, each kind by name.
type Manifests struct {
	// Project is the stack's project name; it is the value of LabelProject.
	Project string
	// Namespace holds every object but itself.
	Namespace string
	// Objects are the objects, typed (*appsv1.Deployment, ...).
	Objects []runtime.Object
	// Warnings are the keys that Kubernetes cannot express and that the
	// conversion left out or approximated, each with its file:line.
	Warnings []string
}

// Unstructured returns the objects as unstructured maps, without the
// fields a typed object always carries empty (status, creationTimestamp):
// the form that is printed and applied.
func (m *Manifests) Unstructured() ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(m.Objects))
	for _, obj := range m.Objects {
		raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, fmt.Errorf("convert %T: %w", obj, err)
		}
		delete(raw, "status")
		prune(raw)
		out = append(out, &unstructured.Unstructured{Object: raw})
	}
	return out, nil
}

// prune removes empty status blocks and null timestamps, recursively.
func prune(m map[string]any) {
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			prune(v)
			if len(v) == 0 && (k == "status" || k == "resources" || k == "metadata" || k == "strategy" || k == "updateStrategy" || k == "spec") {
				delete(m, k)
			}
		case []any:
			for _, e := range v {
				if e, ok := e.(map[string]any); ok {
					prune(e)
				}
			}
		}
	}
}

// Convert turns p into Kubernetes manifests. p is the project as
// planner.Restrict returns it for the selected services. Every key that
// Kubernetes cannot express is reported with its file:line: as an error
// (wrapping errdefs.ErrNotImplemented) where leaving it out would change
// what the service does, as a warning in Manifests.Warnings otherwise. All
// errors are returned at once, joined, like spec.Load's.
func Convert(p *spec.Project, opts Options) (*Manifests, error) {
	if p == nil {
		return nil, fmt.Errorf("convert: no project: %w", errdefs.ErrInvalidArgument)
	}
	if opts.WaitImage == "" {
		opts.WaitImage = DefaultWaitImage
	}
	c := &converter{
		p:     p,
		opts:  opts,
		loc:   newLocator(p.Files),
		byKey: map[string]runtime.Object{},

		fileDataOf: map[string][]byte{},
	}
	c.convert()
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return &Manifests{Project: p.Name, Namespace: c.ns, Objects: c.sorted(), Warnings: c.warns}, nil
}

type converter struct {
	p     *spec.Project
	opts  Options
	loc   *locator
	ext   projectExt
	ns    string
	errs  []error
	warns []string
	// byKey holds the objects made so far by "Kind/name", to find name
	// clashes.
	byKey map[string]runtime.Object
	// claimOwner maps a named volume to the one service that mounts it
	// when that service is a StatefulSet (see volumeUsers).
	claimOwner map[string]string
	// fileDataOf holds the data of each secret and config by
	// "secrets/KEY" or "configs/KEY", for the config hash.
	fileDataOf map[string][]byte
}

// errorf records a key that cannot be converted.
func (c *converter) errorf(p path, format string, args ...any) {
	file, line, col := c.loc.find(p)
	c.errs = append(c.errs, &spec.Error{File: file, Line: line, Column: col, Path: p.String(), Msg: fmt.Sprintf(format, args...), Class: errdefs.ErrNotImplemented})
}

// invalidf records a value that is wrong for Kubernetes.
func (c *converter) invalidf(p path, format string, args ...any) {
	file, line, col := c.loc.find(p)
	c.errs = append(c.errs, &spec.Error{File: file, Line: line, Column: col, Path: p.String(), Msg: fmt.Sprintf(format, args...), Class: errdefs.ErrInvalidArgument})
}

// warnf records a key the conversion leaves out or approximates.
func (c *converter) warnf(p path, format string, args ...any) {
	file, line, col := c.loc.find(p)
	e := &spec.Error{File: file, Line: line, Column: col, Path: p.String(), Msg: fmt.Sprintf(format, args...)}
	c.warns = append(c.warns, e.Error())
}

func (c *converter) extProblems(ps []extProblem) {
	for _, pr := range ps {
		c.invalidf(pr.at, "%s", pr.msg)
	}
}

// add records obj under its kind and name; a second object of the same
// kind and name is an error at p.
func (c *converter) add(obj runtime.Object, p path) {
	key := kindOfObject(obj) + "/" + nameOf(obj)
	if _, dup := c.byKey[key]; dup {
		c.invalidf(p, "makes %s %q, which another part of the stack file makes too: rename one", kindOfObject(obj), nameOf(obj))
		return
	}
	c.byKey[key] = obj
}

func (c *converter) convert() {
	if v, ok := c.p.Extensions[ExtensionKey]; ok {
		ext, problems := decodeProjectExt(v, at(ExtensionKey))
		c.ext = ext
		c.extProblems(problems)
	}
	c.ns = firstNonEmpty(c.opts.Namespace, c.ext.Namespace, c.p.Name)
	if errs := validation.IsDNS1123Label(c.ns); len(errs) > 0 {
		c.invalidf(at("name"), "namespace %q: %s: set x-kubernetes.namespace or --namespace", c.ns, errs[0])
	}
	for _, name := range sortedKeys(c.ext.Volumes) {
		if _, ok := c.p.Volumes[name]; !ok {
			c.invalidf(at(ExtensionKey, "volumes", name), "no top-level volume %q", name)
		}
	}
	c.add(&corev1.Namespace{
		TypeMeta:   typeMeta("v1", "Namespace"),
		ObjectMeta: metav1.ObjectMeta{Name: c.ns, Labels: c.labels("")},
	}, at("name"))
	c.networks()
	c.claimOwner = c.volumeUsers()
	c.volumes()
	c.files("secrets", c.p.Secrets)
	c.files("configs", c.p.Configs)
	for _, name := range c.p.ServiceNames() {
		c.service(name, c.p.Services[name])
	}
}

// networks warns that networks do not isolate on a cluster.
func (c *converter) networks() {
	for _, name := range sortedKeys(c.p.Networks) {
		n := c.p.Networks[name]
		if name == "default" || n.External {
			continue
		}
		c.warnf(at("networks", name), "a cluster has one pod network: services on different networks can reach each other (write NetworkPolicies to isolate them)")
	}
}

// labels are the labels of every object of the project, plus the service
// label when service is not "".
func (c *converter) labels(service string) map[string]string {
	l := map[string]string{LabelManagedBy: managedBy, LabelProject: c.p.Name}
	if service != "" {
		l[LabelService] = service
	}
	return l
}

func (c *converter) meta(name, service string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: c.ns, Labels: c.labels(service)}
}

// sorted returns the objects in apply order.
func (c *converter) sorted() []runtime.Object {
	order := map[string]int{"Namespace": 0, "Secret": 1, "ConfigMap": 2, "PersistentVolumeClaim": 3, "Service": 4, "StatefulSet": 5, "Deployment": 6, "Ingress": 7}
	out := make([]runtime.Object, 0, len(c.byKey))
	for _, obj := range c.byKey {
		out = append(out, obj)
	}
	sort.Slice(out, func(i, j int) bool {
		ki, kj := order[kindOfObject(out[i])], order[kindOfObject(out[j])]
		if ki != kj {
			return ki < kj
		}
		return nameOf(out[i]) < nameOf(out[j])
	})
	return out
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func kindOfObject(obj runtime.Object) string { return obj.GetObjectKind().GroupVersionKind().Kind }

func nameOf(obj runtime.Object) string {
	if o, ok := obj.(metav1.Object); ok {
		return o.GetName()
	}
	return ""
}

// objectName turns a stack-file key into an object name: lowercase, with
// '_' and '.' as '-'. It returns "" (and records an error at p) when that
// is still no DNS label.
func (c *converter) objectName(key string, p path, what string) string {
	name := strings.Map(func(r rune) rune {
		if r == '_' || r == '.' {
			return '-'
		}
		return r
	}, strings.ToLower(key))
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		c.invalidf(p, "%s %q gives object name %q: %s", what, key, name, errs[0])
		return ""
	}
	return name
}

// hashData hashes the data of the ConfigMaps and Secrets a pod reads.
func hashData(parts map[string][]byte) string {
	h := sha256.New()
	for _, k := range sortedKeys(parts) {
		fmt.Fprintf(h, "%s\x00%d\x00", k, len(parts[k]))
		h.Write(parts[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func ptr[T any](v T) *T { return &v }
