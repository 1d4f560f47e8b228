package kube

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// RenderYAML prints the manifests as one YAML stream, one document per
// object in apply order, as `kubectl apply -f -` reads it.
func (m *Manifests) RenderYAML() ([]byte, error) {
	objs, err := m.Unstructured()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for i, o := range objs {
		out, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("render %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(out)
	}
	return buf.Bytes(), nil
}

// WriteDir writes one file per object into dir (made if missing), named
// NN-kind-name.yaml so that `kubectl apply -f DIR`, which reads files in
// name order, applies them in order. It returns the file names written.
func (m *Manifests) WriteDir(dir string) ([]string, error) {
	objs, err := m.Unstructured()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("write manifests: %w", err)
	}
	var names []string
	for i, o := range objs {
		out, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("render %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		name := fmt.Sprintf("%02d-%s-%s.yaml", i, strings.ToLower(o.GetKind()), o.GetName())
		mode := os.FileMode(0o644)
		if o.GetKind() == "Secret" {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, name), out, mode); err != nil {
			return nil, fmt.Errorf("write manifests: %w", err)
		}
		names = append(names, name)
	}
	return names, nil
}
