package kube

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ExtensionKey is the extension key of a stack file (top level and per
// service) that says what Compose cannot: see the package doc.
const ExtensionKey = "x-kubernetes"

// projectExt is the top-level x-kubernetes block.
type projectExt struct {
	Namespace        string
	StorageClassName string
	Volumes          map[string]volumeExt
}

// volumeExt is x-kubernetes.volumes.NAME.
type volumeExt struct {
	Size             *resource.Quantity
	StorageClassName string
	AccessMode       string
}

// serviceExt is a service's x-kubernetes block.
type serviceExt struct {
	ServiceType string
	Ingress     *ingressExt
}

// ingressExt is a service's x-kubernetes.ingress.
type ingressExt struct {
	Host      string
	Path      string
	Port      int32
	ClassName string
	TLSSecret string
}

// extProblem is a mistake in an x-kubernetes block, at a path below it.
type extProblem struct {
	at  path
	msg string
}

// extDecoder decodes an x-kubernetes value as yaml.v3 decoded it into
// any (maps, slices, strings, ints, floats, bools, nil). It never panics on
// any input: FuzzDecodeExtension checks that.
type extDecoder struct {
	base     path
	problems []extProblem
}

func (d *extDecoder) fail(p path, format string, args ...any) {
	d.problems = append(d.problems, extProblem{at: p, msg: fmt.Sprintf(format, args...)})
}

// mapping checks that v is a mapping with only the known keys, and returns
// it with string keys.
func (d *extDecoder) mapping(v any, p path, known ...string) map[string]any {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		if _, ok := v.(map[any]any); ok {
			d.fail(p, "keys must be strings")
			return nil
		}
		d.fail(p, "must be a mapping, not %s", kindOf(v))
		return nil
	}
	for _, k := range sortedKeys(m) {
		if known != nil && !slices.Contains(known, k) {
			d.fail(p.with(k), "unknown key: known keys are %s", strings.Join(known, ", "))
		}
	}
	return m
}

func (d *extDecoder) str(m map[string]any, key string, p path) string {
	v, ok := m[key]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		d.fail(p.with(key), "must be a string, not %s", kindOf(v))
		return ""
	}
	return s
}

func (d *extDecoder) port(m map[string]any, key string, p path) int32 {
	v, ok := m[key]
	if !ok || v == nil {
		return 0
	}
	n, ok := v.(int)
	if !ok || n < 1 || n > 65535 {
		d.fail(p.with(key), "must be a port number from 1 to 65535, not %v", v)
		return 0
	}
	return int32(n)
}

func (d *extDecoder) dnsLabel(s string, p path, what string) {
	if s == "" {
		return
	}
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		d.fail(p, "%s %q: %s", what, s, errs[0])
	}
}

func (d *extDecoder) dnsSubdomain(s string, p path, what string) {
	if s == "" {
		return
	}
	if errs := validation.IsDNS1123Subdomain(s); len(errs) > 0 {
		d.fail(p, "%s %q: %s", what, s, errs[0])
	}
}

// decodeProjectExt decodes the top-level x-kubernetes value v.
func decodeProjectExt(v any, base path) (projectExt, []extProblem) {
	d := &extDecoder{base: base}
	var out projectExt
	m := d.mapping(v, base, "namespace", "storageClassName", "volumes")
	if m == nil {
		return out, d.problems
	}
	out.Namespace = d.str(m, "namespace", base)
	d.dnsLabel(out.Namespace, base.with("namespace"), "namespace")
	out.StorageClassName = d.str(m, "storageClassName", base)
	d.dnsSubdomain(out.StorageClassName, base.with("storageClassName"), "storage class")
	vols := d.mapping(m["volumes"], base.with("volumes"))
	for _, name := range sortedKeys(vols) {
		vp := base.with("volumes", name)
		vm := d.mapping(vols[name], vp, "size", "storageClassName", "accessMode")
		if vm == nil {
			continue
		}
		var ve volumeExt
		if raw, ok := vm["size"]; ok && raw != nil {
			q, err := resource.ParseQuantity(fmt.Sprint(raw))
			switch {
			case err != nil:
				d.fail(vp.with("size"), "%v is not a size: write it as Kubernetes does (10Gi, 500Mi)", raw)
			case q.Sign() <= 0:
				d.fail(vp.with("size"), "must be more than 0")
			default:
				ve.Size = &q
			}
		}
		ve.StorageClassName = d.str(vm, "storageClassName", vp)
		d.dnsSubdomain(ve.StorageClassName, vp.with("storageClassName"), "storage class")
		ve.AccessMode = d.str(vm, "accessMode", vp)
		if ve.AccessMode != "" && !slices.Contains(accessModes, ve.AccessMode) {
			d.fail(vp.with("accessMode"), "%q: want one of %s", ve.AccessMode, strings.Join(accessModes, ", "))
		}
		if out.Volumes == nil {
			out.Volumes = map[string]volumeExt{}
		}
		out.Volumes[name] = ve
	}
	return out, d.problems
}

var (
	accessModes  = []string{"ReadWriteOnce", "ReadWriteOncePod", "ReadOnlyMany", "ReadWriteMany"}
	serviceTypes = []string{"ClusterIP", "NodePort", "LoadBalancer"}
)

// decodeServiceExt decodes a service's x-kubernetes value v.
func decodeServiceExt(v any, base path) (serviceExt, []extProblem) {
	d := &extDecoder{base: base}
	var out serviceExt
	m := d.mapping(v, base, "serviceType", "ingress")
	if m == nil {
		return out, d.problems
	}
	out.ServiceType = d.str(m, "serviceType", base)
	if out.ServiceType != "" && !slices.Contains(serviceTypes, out.ServiceType) {
		d.fail(base.with("serviceType"), "%q: want one of %s", out.ServiceType, strings.Join(serviceTypes, ", "))
	}
	ip := base.with("ingress")
	im := d.mapping(m["ingress"], ip, "host", "path", "port", "className", "tlsSecret")
	if im != nil {
		in := &ingressExt{
			Host:      d.str(im, "host", ip),
			Path:      d.str(im, "path", ip),
			Port:      d.port(im, "port", ip),
			ClassName: d.str(im, "className", ip),
			TLSSecret: d.str(im, "tlsSecret", ip),
		}
		switch {
		case in.Host == "":
			d.fail(ip.with("host"), "required: the host name the Ingress answers for")
		case strings.HasPrefix(in.Host, "*."):
			if errs := validation.IsWildcardDNS1123Subdomain(in.Host); len(errs) > 0 {
				d.fail(ip.with("host"), "host %q: %s", in.Host, errs[0])
			}
		default:
			d.dnsSubdomain(in.Host, ip.with("host"), "host")
		}
		if in.Path == "" {
			in.Path = "/"
		} else if !strings.HasPrefix(in.Path, "/") {
			d.fail(ip.with("path"), "path %q must start with /", in.Path)
		}
		d.dnsSubdomain(in.ClassName, ip.with("className"), "ingress class")
		d.dnsSubdomain(in.TLSSecret, ip.with("tlsSecret"), "secret name")
		out.Ingress = in
	}
	return out, d.problems
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// sortedKeys returns the keys of m in order: output must not depend on
// map order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
