package spec

import (
	"bytes"
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"
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
// the names the JSON leaves out are restored.
func DecodeJSON(data []byte) (*Project, error) {
	var p Project
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decode project: %w", err)
	}
	if p.Name == "" {
		return nil, fmt.Errorf("decode project: no name")
	}
	for name, s := range p.Services {
		if s == nil {
			s = &Service{}
			p.Services[name] = s
		}
		s.Name = name
	}
	return &p, nil
}
