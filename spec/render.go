package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/stack-dev/stack/internal/errdefs"
	"github.com/stack-dev/stack/internal/ident"
)

// RenderYAML prints p in canonical YAML with two-space indents, as docker
// compose config does.
func RenderYAML(p *Project) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("render yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render yaml: %w", err)
	}
	return buf.Bytes(), nil
}

// RenderJSON prints p as indented JSON.
func RenderJSON(p *Project) ([]byte, error) {
	out, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render json: %w", err)
	}
	return append(out, '\n'), nil
}

// DecodeJSON reads a project printed by RenderJSON, as the daemon receives
// it from the CLI: the model is already normalised and validated, so only
// the names the JSON leaves out are restored. It is outside input all the
// same: unknown fields are refused, and every name that becomes a path or
// a key is checked (internal/ident), so an error wraps
// errdefs.ErrInvalidArgument.
func DecodeJSON(data []byte) (*Project, error) {
	var p Project
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decode project: %s: %w", shorten(err.Error()), errdefs.ErrInvalidArgument)
	}
	if err := ident.Project(p.Name); err != nil {
		return nil, fmt.Errorf("decode project: %w", err)
	}
	for name, s := range p.Services {
		if s == nil {
			s = &Service{}
			p.Services[name] = s
		}
		s.Name = name
	}
	var errs []error
	for _, name := range p.ServiceNames() {
		errs = append(errs, ident.Service(name))
		if cn := p.Services[name].ContainerName; cn != "" {
			errs = append(errs, ident.Name("container_name", cn))
		}
	}
	for _, key := range sortedKeys(p.Volumes) {
		if p.Volumes[key] == nil {
			return nil, fmt.Errorf("decode project: volume %s: no definition: %w", ident.Quote(key), errdefs.ErrInvalidArgument)
		}
		errs = append(errs, ident.Name("volume name", p.Volumes[key].Name))
	}
	for _, key := range sortedKeys(p.Networks) {
		if p.Networks[key] == nil {
			return nil, fmt.Errorf("decode project: network %s: no definition: %w", ident.Quote(key), errdefs.ErrInvalidArgument)
		}
		errs = append(errs, ident.Name("network name", p.Networks[key].Name))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("decode project %s: %w", p.Name, err)
	}
	return &p, nil
}

// shorten cuts a decoder's message, which may quote the offending input,
// to a length fit for an error line.
func shorten(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
