package kube

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDecodeExtension is the table of x-kubernetes mistakes and their
// messages.
func TestDecodeExtension(t *testing.T) {
	tests := []struct {
		name    string
		service bool
		yaml    string
		want    []string
	}{
		{name: "project ok", yaml: "namespace: shop\nstorageClassName: fast\nvolumes:\n  db: {size: 5Gi, accessMode: ReadWriteMany, storageClassName: slow}\n"},
		{name: "service ok", service: true, yaml: "serviceType: NodePort\ningress: {host: a.example.test, path: /x, port: 80, className: nginx, tlsSecret: a-tls}\n"},
		{name: "wildcard host", service: true, yaml: "ingress: {host: '*.example.test'}\n"},
		{name: "not a mapping", yaml: "[1, 2]\n", want: []string{"x-kubernetes: must be a mapping, not a list"}},
		{name: "unknown key", yaml: "namespaces: shop\n", want: []string{"x-kubernetes.namespaces: unknown key: known keys are namespace, storageClassName, volumes"}},
		{name: "namespace not a string", yaml: "namespace: [a]\n", want: []string{"x-kubernetes.namespace: must be a string, not a list"}},
		{name: "namespace no label", yaml: "namespace: Shop_1\n", want: []string{`x-kubernetes.namespace: namespace "Shop_1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
		{name: "volume size", yaml: "volumes:\n  db: {size: lots}\n", want: []string{"x-kubernetes.volumes.db.size: lots is not a size: write it as Kubernetes does (10Gi, 500Mi)"}},
		{name: "volume size zero", yaml: "volumes:\n  db: {size: 0}\n", want: []string{"x-kubernetes.volumes.db.size: must be more than 0"}},
		{name: "volume access mode", yaml: "volumes:\n  db: {accessMode: rwx}\n", want: []string{`x-kubernetes.volumes.db.accessMode: "rwx": want one of ReadWriteOnce, ReadWriteOncePod, ReadOnlyMany, ReadWriteMany`}},
		{name: "volume unknown key", yaml: "volumes:\n  db: {class: x}\n", want: []string{"x-kubernetes.volumes.db.class: unknown key: known keys are size, storageClassName, accessMode"}},
		{name: "non-string keys", yaml: "volumes:\n  db: {1: x}\n", want: []string{"x-kubernetes.volumes.db: keys must be strings"}},
		{name: "service type", service: true, yaml: "serviceType: External\n", want: []string{`x-kubernetes.serviceType: "External": want one of ClusterIP, NodePort, LoadBalancer`}},
		{name: "ingress without host", service: true, yaml: "ingress: {path: /}\n", want: []string{"x-kubernetes.ingress.host: required: the host name the Ingress answers for"}},
		{name: "ingress path", service: true, yaml: "ingress: {host: a.test, path: api}\n", want: []string{`x-kubernetes.ingress.path: path "api" must start with /`}},
		{name: "ingress port", service: true, yaml: "ingress: {host: a.test, port: 70000}\n", want: []string{"x-kubernetes.ingress.port: must be a port number from 1 to 65535, not 70000"}},
		{name: "ingress bad host", service: true, yaml: "ingress: {host: 'A host'}\n", want: []string{`x-kubernetes.ingress.host: host "A host": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			if err := yaml.Unmarshal([]byte(tc.yaml), &v); err != nil {
				t.Fatal(err)
			}
			var problems []extProblem
			if tc.service {
				_, problems = decodeServiceExt(v, at(ExtensionKey))
			} else {
				_, problems = decodeProjectExt(v, at(ExtensionKey))
			}
			var got []string
			for _, p := range problems {
				got = append(got, p.at.String()+": "+p.msg)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// FuzzDecodeExtension feeds any YAML to the x-kubernetes decoders: they
// must not panic, and every problem must name a path below x-kubernetes
// and say something.
func FuzzDecodeExtension(f *testing.F) {
	for _, seed := range []string{
		"namespace: shop\nstorageClassName: fast\nvolumes:\n  db: {size: 5Gi, accessMode: ReadWriteMany}\n",
		"serviceType: NodePort\ningress: {host: a.example.test, path: /x, port: 80}\n",
		"volumes: [1]\n", "ingress: 3\n", "volumes:\n  db: {size: -1}\n", "{1: 2}\n", "~\n",
		"ingress: {host: '*.a', port: 1.5}\n", "volumes:\n  db: {size: 1e400}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if yaml.Unmarshal(data, &v) != nil {
			return
		}
		_, p1 := decodeProjectExt(v, at(ExtensionKey))
		_, p2 := decodeServiceExt(v, at(ExtensionKey))
		for _, p := range append(p1, p2...) {
			if p.msg == "" || !strings.HasPrefix(p.at.String(), ExtensionKey) {
				t.Fatalf("problem %q at %q", p.msg, p.at)
			}
		}
	})
}
